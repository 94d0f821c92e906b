from tests.ui.conftest import (  # noqa: F401  (fixtures shared with the UI tests)
    PASSWORD,
    _own_cache,
    catalogue,
    make_user,
    patient,
    role_groups,
    rooms,
    scheduler,
    scheduler_client,
    technologist,
    technologist_client,
)
