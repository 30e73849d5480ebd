"""Titles and names are printed, never obeyed: a source's escape sequences and control
characters (screen clear, window title, colour, backspace over what was shown) are kept in the
database as the source sent them and taken out of every line `harvest` prints for people;
`--json` keeps them, escaped as JSON escapes them. Run as a user runs it, in a subprocess,
against the local upstream replaying a recorded Crossref work whose title and author the test
has made hostile."""

from __future__ import annotations

import json
import re

import pytest
from conftest import QUICK_RETRIES, HarvestCommand, load_json
from fakes import ok, query
from upstream import ReplayUpstream

from harvester.render import printable

ELIFE = "10.7554/eLife.01567"
RECORDED = load_json("crossref/10.7554_elife.01567.json")["message"]

#: Clear the screen, set the window title (OSC ended by BEL), red, backspace over it, reset.
HOSTILE_TITLE = "\x1b[2J\x1b]0;pwned\x07\x1b[31mAutomated\x08\x08\x08 histology\x1b[0m\x7f\x9b1m"
READABLE_TITLE = "Automated histology"
HOSTILE_FAMILY = "\x1b]2;owned\x1b\\Ka\x08pur"

#: What must never reach the terminal: ESC, BEL, BS, CR, DEL and the C1 controls.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def harvest(tmp_path):
    with ReplayUpstream(prefix="/crossref") as upstream:
        upstream.add_crossref("10.7554_elife.01567")
        author = [{**RECORDED["author"][0], "family": HOSTILE_FAMILY}, *RECORDED["author"][1:]]
        upstream.change(ELIFE, title=[HOSTILE_TITLE], author=author)
        fast = "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n[datacite]\nrate = 1000.0\n"
        command = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES + fast)
        ok(command("doi", ELIFE))
        yield command


def test_a_hostile_title_is_stored_as_sent_and_printed_without_its_controls(harvest):
    assert query(harvest.db_path, "SELECT title FROM works") == [(HOSTILE_TITLE,)]
    families = [row[0] for row in query(harvest.db_path, "SELECT family FROM authors")]
    assert HOSTILE_FAMILY in families
    again = harvest("doi", ELIFE, "--refresh")  # the per-DOI line and the work below it
    printed = {
        "doi": again.stdout + again.stderr,
        "show": ok(harvest("show", ELIFE)).stdout,
        "history": ok(harvest("history", ELIFE)).stdout,
        "works": ok(harvest("works")).stdout,
    }
    for command, text in printed.items():
        assert not CONTROLS.findall(text), (command, text)
        assert "pwned" not in text and "owned" not in text, command
    assert f"Title:       {READABLE_TITLE}" in printed["show"]
    assert "Kapur" in printed["show"]
    assert READABLE_TITLE in printed["history"] and READABLE_TITLE in printed["works"]
    assert READABLE_TITLE in printed["doi"]


def test_json_output_keeps_the_title_as_sent_escaped(harvest):
    shown = ok(harvest("show", ELIFE, "--json")).stdout
    assert json.loads(shown)["title"] == HOSTILE_TITLE
    assert HOSTILE_FAMILY in [a["family"] for a in json.loads(shown)["authors"]]
    listed = ok(harvest("works", "--json")).stdout
    assert json.loads(listed)[0]["title"] == HOSTILE_TITLE
    history = json.loads(ok(harvest("history", ELIFE, "--json")).stdout)
    assert HOSTILE_TITLE in [c["new_value"] for c in history["changes"]]
    for text in (shown, listed):
        assert not CONTROLS.findall(text.replace("\n", ""))  # escaped: \u001b, never ESC itself


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("\x1b[2J\x1b]0;pwned\x07Title", "Title"),  # clear screen, window title (BEL)
        ("\x1bP1$r\x1b\\Title\x1b[?25l", "Title"),  # DCS ended by ST, hide the cursor
        ("Ti\x08\x08tle\r", "Title"),  # backspace, carriage return
        ("\x9b31mTitle\x9d0;x\x9c", "Title"),  # 8-bit CSI and OSC
        ("\x1b]0;never ended Title", "0;never ended Title"),  # the ESC goes, the text stays
        ("Über “Zitate” — ½\tand\nlines", "Über “Zitate” — ½\tand\nlines"),
    ],
)
def test_printable_takes_out_what_a_terminal_obeys_and_keeps_the_text(sent, shown):
    assert printable(sent) == shown
