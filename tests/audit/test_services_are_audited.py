"""Patient data is changed only by functions that audit: every public service function
of the write path (booking, patients, performed procedure steps, arriving studies,
the order history) that writes is @audited, records its own audit event (through a
function of its module that calls audit's record), or is listed here with what audits
it. A new writer forgetting @audited fails here, naming it."""

import ast
import importlib
import inspect

import pytest

# The service modules that change patient data (stations, procedures and modalities
# in worklist.services.stations are not patient data).
PATIENT_DATA_SERVICES = (
    "worklist.services.booking",
    "worklist.services.patients",
    "worklist.services.performed_steps",
    "worklist.services.studies",
    "worklist.services.history",
    "worklist.services.safety",
    "hl7v2.services",
    "export.services",
)

WRITES = {
    "save",
    "update",
    "delete",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}

AUDITED_BY_CALLER = {
    # worklist.services.booking
    "order_refresh_status": "a step of the audited writes that change steps "
    "(step_update's discontinuation); loaddemo replays demo history with it",
    "patient_for_order": "the patient part of order_create, which is @audited",
    # worklist.services.safety
    "check_change_acknowledged": "stores the acknowledgements on the order inside the "
    "audited write that asked for them (order_update, step_update, order_schedule)",
    # worklist.services.history
    "record": "the order's history line written inside the audited write that made it",
    # hl7v2.services
    "receive": "keeps the message; its patient and order writes are the audited worklist "
    "services its handlers call",
    "reapply": "as receive, for a kept message applied again by an administrator",
    # export.services
    "project_create": "a research project's name and owner: no patient data",
    "pseudonyms_for": "the pseudonyms of an export, written inside export_build, which "
    "records the Export event naming its patients",
    "export_progress": "counters of a build under way: no patient data",
    "expire_exports": "deletes expired files; their Export events were recorded when built",
}


def _functions(module) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(inspect.getsource(module))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _decorated_audited(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target).split(".")[-1] == "audited":
            return True
    return False


def _calls(node: ast.FunctionDef) -> list[str]:
    """What the function calls, as written (`save`, `history.record`, `_follow`)."""
    return [ast.unparse(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)]


def _reaches(name: str, functions: dict, test, seen=None) -> bool:
    """True when the function, or a function of its module it calls, makes a call
    `test` accepts."""
    seen = seen if seen is not None else set()
    if name in seen or name not in functions:
        return False
    seen.add(name)
    for called in _calls(functions[name]):
        if test(called) or _reaches(called, functions, test, seen):
            return True
    return False


def _writes(called: str) -> bool:
    return called.split(".")[-1] in WRITES or called == "history.record"


def _records_audit(called: str) -> bool:
    return called in ("audit.record", "services.record", "record_read")


def unaudited_writers(module) -> list[str]:
    functions = _functions(module)
    return [
        name
        for name, node in functions.items()
        if not name.startswith("_")
        and _reaches(name, functions, _writes)
        and not _decorated_audited(node)
        and not _reaches(name, functions, _records_audit)
        and name not in AUDITED_BY_CALLER
    ]


@pytest.mark.parametrize("module_name", PATIENT_DATA_SERVICES)
def test_every_service_writing_patient_data_audits(module_name):
    module = importlib.import_module(module_name)
    assert unaudited_writers(module) == [], (
        f"{module_name}: decorate these with @audited (audit.audited), where the write "
        "happens, or name what audits them in AUDITED_BY_CALLER"
    )


def test_the_guard_sees_the_writes_it_guards():
    """The check above is not vacuous: the audited writers are found as writers."""
    from worklist.services import booking, performed_steps

    for module, name in (
        (booking, "step_update"),
        (booking, "order_cancel"),
        (performed_steps, "performed_step_create"),
        (performed_steps, "performed_step_update"),
        (performed_steps, "performed_step_link"),
    ):
        functions = _functions(module)
        assert _reaches(name, functions, _writes), name
        assert _decorated_audited(functions[name]), name


def test_the_functions_said_to_be_audited_by_their_caller_exist():
    defined = {
        name
        for module_name in PATIENT_DATA_SERVICES
        for name in _functions(importlib.import_module(module_name))
    }
    assert set(AUDITED_BY_CALLER) <= defined
