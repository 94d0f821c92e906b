"""Patient data is reached through functions that audit: every worklist selector
that returns patients, orders, procedures or steps is @audited, or is built on one
that is (and listed here, with what audits it)."""

import ast
import inspect

from worklist import selectors

PATIENT_DATA = (
    "Patient",
    "Order",
    "RequestedProcedure",
    "ScheduledProcedureStep",
    "PerformedProcedureStep",
    "OrderEvent",
    "PatientAlias",
    "Page",
)

BUILT_ON_AUDITED = {
    "order_get": "order_list",
    "patient_orders": "order_list",
    "order_search": "order_list",
    "order_detail": "order_list",
    "step_get": "step_list",
    "unscheduled_performed_steps": "performed_step_list",
    "order_performed_steps": "performed_step_list",
    "performed_step_get": "performed_step_list",
    # An iterator streamed to the DICOM handler, which records one Query event
    # naming every patient before it answers (worklist/dicom/mwl.py).
    "modality_worklist": "worklist.dicom.mwl._audit",
    # Sorts the orders it is given, which its callers read through order_list (the
    # orders list, worklist.selectors.order_search; /api/orders/, the API's view).
    "by_urgency": "worklist.selectors.order_list",
    # The unevaluated query behind modality_worklist (read there), and EXPLAINed.
    "modality_worklist_query": "worklist.selectors.modality_worklist",
}


def return_annotations() -> dict[str, str]:
    """Each top-level function's return annotation as written (QuerySet[Patient]
    loses its parameter once evaluated)."""
    tree = ast.parse(inspect.getsource(selectors))
    return {
        node.name: ast.unparse(node.returns)
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.returns is not None
    }


def test_every_selector_returning_patient_data_audits():
    unaudited = [
        name
        for name, annotation in return_annotations().items()
        if any(model in annotation for model in PATIENT_DATA)
        and not hasattr(getattr(selectors, name), "__wrapped__")
        and name not in BUILT_ON_AUDITED
    ]
    assert unaudited == [], (
        "Decorate these with @audited (audit.audited), or build them on an audited "
        f"selector and list them in BUILT_ON_AUDITED: {unaudited}"
    )


def test_the_selectors_said_to_be_built_on_audited_ones_are():
    for name, base in BUILT_ON_AUDITED.items():
        if "." in base:
            continue  # audited by its caller, named above
        assert hasattr(getattr(selectors, base), "__wrapped__"), base
        assert f"{base}(" in inspect.getsource(getattr(selectors, name)), name
