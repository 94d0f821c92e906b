"""python-hl7, the HL7 v2 parser this app uses (PyPI `hl7`, pinned in constraints.txt).

Its import name is `hl7`, the name of this app too: `import hl7` here finds the app.
The library's core (parser, containers, escapes) imports itself relatively, so it is
loaded from its installed files under another name, `python_hl7`. (Its MLLP client
and asyncio server import `hl7` absolutely; the tests run them as separate processes,
which is what an independent peer should be anyway.)
"""

import importlib.util
import sys
from importlib.metadata import distribution

NAME = "python_hl7"


def _load():
    if NAME in sys.modules:
        return sys.modules[NAME]
    init = distribution("hl7").locate_file("hl7/__init__.py")
    spec = importlib.util.spec_from_file_location(
        NAME, init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module


hl7 = _load()
parse = hl7.parse
Message = hl7.Message
unescape = sys.modules[f"{NAME}.util"].unescape
