"""A breaking contract change must show up here: regenerate with scripts/contracts-snapshot."""

import json
from pathlib import Path

from mss_contracts.schemas import all_schemas

SNAPSHOT = Path(__file__).resolve().parents[1] / "schemas" / "snapshot.json"


def test_json_schemas_match_the_committed_snapshot() -> None:
    current = json.loads(json.dumps(all_schemas(), sort_keys=True))
    committed = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        name
        for name in current.keys() | committed.keys()
        if current.get(name) != committed.get(name)
    )
    assert not changed, (
        f"contract schemas changed: {changed}. If additive and intended, run "
        "scripts/contracts-snapshot; a breaking change needs a new schemaVersion."
    )
