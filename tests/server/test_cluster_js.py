"""The pages' cluster.js under Node with a scripted fetch: a page stays while its node answers,
and once it does not, opens itself on the first live node that does, with its token and what
to join again there (the console, the dispatch console and the wall kiosk use it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[2] / "mediacore" / "server" / "static" / "cluster.js"

# Runs cluster.js in a page at http://10.0.0.1:8443/dispatch/?room=command whose fetch answers
# from SCENARIO: {"nodes": [...] listed first, "own_down": after learning, "down": [bases]}.
HARNESS = """
const fs = require("fs");
const scenario = JSON.parse(process.argv[2]);
const assigned = [];
let ownDown = false;
globalThis.window = globalThis;
globalThis.location = {
  origin: "http://10.0.0.1:8443", pathname: "/dispatch/", search: "?room=command",
  assign: (url) => assigned.push(url),
};
globalThis.fetch = async (url, options) => {
  const text = String(url);
  if (text === "/api/v1/nodes") {
    if (ownDown) throw new TypeError("Failed to fetch");
    return { ok: true, json: async () => scenario.nodes };
  }
  if (scenario.down.some((base) => text.startsWith(base))) throw new TypeError("Failed to fetch");
  if (options.mode !== "no-cors") throw new Error("a probe of another origin must be no-cors");
  return { ok: false, type: "opaque" };
};
eval(fs.readFileSync(process.argv[1], "utf8"));
(async () => {
  await mediacoreCluster.learn("tok");
  const stayed = await mediacoreCluster.follow("tok", { rejoin: "1" });
  ownDown = scenario.own_down;
  const moved = await mediacoreCluster.follow("tok", { rejoin: "1", name: "Desk 1" });
  console.log(JSON.stringify({ stayed, moved, assigned }));
})();
"""

NODES = [
    {"name": "n1", "state": "up", "http": "http://10.0.0.1:8443"},
    {"name": "n2", "state": "dead", "http": "http://10.0.0.2:8443"},
    {"name": "n3", "state": "draining", "http": "http://10.0.0.3:8443"},
    {"name": "n4", "state": "up", "http": "http://10.0.0.4:8443"},
    {"name": "n5", "state": "up", "http": "http://10.0.0.5:8443"},
]


def run(**scenario: Any) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, "-e", HARNESS, str(SCRIPT), json.dumps({"down": [], **scenario})],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_a_page_whose_node_answers_stays() -> None:
    outcome = run(nodes=NODES, own_down=False)
    assert outcome == {"stayed": False, "moved": False, "assigned": []}


def test_a_page_whose_node_is_gone_opens_on_the_first_live_node_that_answers() -> None:
    outcome = run(nodes=NODES, own_down=True, down=["http://10.0.0.4"])
    assert outcome["stayed"] is False and outcome["moved"] is True
    # n2 is dead, n3 draining, n4 does not answer: n5, same page, token and seat parameters.
    assert outcome["assigned"] == [
        "http://10.0.0.5:8443/dispatch/?room=command&token=tok&rejoin=1&name=Desk+1"
    ]


def test_a_page_stays_when_no_other_node_answers() -> None:
    down = ["http://10.0.0.4", "http://10.0.0.5"]
    outcome = run(nodes=NODES, own_down=True, down=down)
    assert outcome == {"stayed": False, "moved": False, "assigned": []}
