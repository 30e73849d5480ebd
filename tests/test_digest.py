"""`harvest digest`: what happened since the last digest, worst news first, printed or mailed.

The database is made by the real commands (`harvest import`, `track`, `set`, `run`, `oai`
against the local upstream replaying kept responses); a notice is recorded through the store
as the sources do. The e-mail goes to a real SMTP server started here (aiosmtpd on 127.0.0.1)
over STARTTLS with a certificate made here by the `openssl` command, with a login, and is read
back with the standard library's e-mail parser.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from conftest import KEPT, QUICK_RETRIES, HarvestCommand, load_json
from upstream import ReplayUpstream

from harvester import digest, secrets
from harvester.config import load_config
from harvester.models import Notice
from harvester.store import open_store
from harvester.store.digests import point_of

PASSWORD = "s3cret-smtp-Passw0rd"
USER = "digest-bot"
RETRACTED = "10.1234/retracted.2020"
KEPT_DOI = "10.1234/kept.2021"
NOTICE = Notice(
    kind="retraction",
    asserted_by="retraction-watch",
    source="crossref",
    notice_doi="10.1234/retraction-notice.7",
    record_id="4036",
    date="2024-05-01",
    detail="Falsification/Fabrication of Data",
)


# --- a real SMTP server ----------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, or answers `refuse` instead."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse: str | None = None
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        return "250 OK kept"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        # A careless server that quotes what it was given: the harvester must mask it.
        said = f"535 5.7.8 no user {USER} with password {auth_data.password.decode()}"
        return AuthResult(success=ok, handled=False, message=None if ok else said)

    def messages(self):
        return [BytesParser(policy=policy.default).parsebytes(e.content) for e in self.envelopes]


def _controller(mailbox: Mailbox, **options):
    """aiosmtpd's server on 127.0.0.1, on a free port (skipped, saying so, without aiosmtpd:
    `make install` installs it with the dev extras)."""
    controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed")
    return controller.Controller(mailbox, hostname="127.0.0.1", port=_free_port(), **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command: STARTTLS untested")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def smtp(certificate):
    """The SMTP server: STARTTLS required before anything, a login required (over TLS only)."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    controller = _controller(
        mailbox,
        tls_context=context,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    mailbox.port = controller.port
    mailbox.cert = cert
    try:
        yield mailbox
    finally:
        controller.stop()


def _digest_config(port: int, **extra: str) -> str:
    settings = {
        "recipients": '["editor@example.org", "library@example.org"]',
        "sender": '"harvester@example.org"',
        "smtp_host": '"127.0.0.1"',
        "smtp_port": str(port),
        "username": f'"{USER}"',
        "timeout": "10.0",
        **extra,
    }
    return "[digest]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())


@pytest.fixture
def harvest(tmp_path, smtp):
    """`harvest` with [digest] pointing at the test's SMTP server, trusting its certificate
    (SSL_CERT_FILE: what every OpenSSL client reads as its trust store), the password in the
    environment."""
    command = HarvestCommand(tmp_path, {}, QUICK_RETRIES + _digest_config(smtp.port))
    command.env.update({"HARVEST_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(smtp.cert)})
    return command


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def _kept_works(harvest: HarvestCommand) -> None:
    """Two works of one's own, one of them tracked and corrected by hand, and a retraction
    notice recorded for the other as a source's harvest records it."""
    csv = harvest.folder / "mine.csv"
    csv.write_text(
        "doi,title,year,authors\n"
        f'{RETRACTED},Growth and debt in a small sample,2020,"Smith, Ann"\n'
        f'{KEPT_DOI},Another paper,2021,"Jones, Bob"\n'
    )
    ok(harvest("import", str(csv)))
    ok(harvest("track", KEPT_DOI))
    ok(harvest("set", KEPT_DOI, "title=Another paper, corrected"))
    _record_notice(harvest.db_path, RETRACTED, NOTICE)


def _record_notice(db: Path, doi: str, notice: Notice) -> None:
    store = open_store(db)
    try:
        work = store.conn.execute("SELECT id FROM works WHERE doi = ?", (doi,)).fetchone()[0]
        run = store.runs.start("harvest run")
        with store.transaction():
            store.integrity.record(work, [notice], run, store.now())
        store.runs.finish(run, "ok")
    finally:
        store.close()


def _digests(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT status, since_run, until_run, notices, error FROM digests ORDER BY id"
        ).fetchall()


def _parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


# --- what a digest says ------------------------------------------------------------------------


def test_a_digest_with_a_retraction_names_the_work_the_notice_and_who_asserted_it(harvest):
    _kept_works(harvest)
    shown = ok(harvest("digest")).stdout
    notices, rest = shown.split("Changed fields of tracked works")
    assert "Integrity notices (1)" in notices  # first
    assert f"RETRACTION  {RETRACTED}" in notices and "Growth and debt" in notices
    assert "notice 10.1234/retraction-notice.7" in notices
    assert "asserted by retraction-watch (read from crossref)" in notices
    assert "record 4036" in notices and "Falsification/Fabrication of Data" in notices
    # the tracked work's change, old -> new, by source; the untracked one's first values not
    assert "title: Another paper -> Another paper, corrected  [local, run 2]" in rest
    assert "Growth and debt" not in rest

    document = json.loads(ok(harvest("digest", "--format", "json")).stdout)
    [notice] = document["notices"]
    assert (notice["doi"], notice["kind"], notice["notice_doi"], notice["asserted_by"]) == (
        RETRACTED,
        "retraction",
        "10.1234/retraction-notice.7",
        "retraction-watch",
    )
    [changed] = document["changed_works"]
    assert changed["doi"] == KEPT_DOI
    assert [
        (c["field"], c["old_value"], c["new_value"], c["source"]) for c in changed["changes"]
    ] == [("title", "Another paper", "Another paper, corrected", "local")]
    assert document["counts"] == {
        "notices": 1,
        "changed_works": 1,
        "changes": 1,
        "new_works": 0,  # an import is not a feed
        "failures": 0,
    }
    assert (document["since_run"], document["until_run"]) == (None, 3)
    # printing is only a preview: nothing kept, the same digest again
    assert _digests(harvest.db_path) == []
    assert json.loads(ok(harvest("digest", "--format", "json")).stdout)["notices"] == [notice]


def test_markdown_and_html_carry_the_same_news_escaped(harvest):
    _kept_works(harvest)
    ok(harvest("set", KEPT_DOI, "title=<script>alert(1)</script> *bold*"))
    page = ok(harvest("digest", "--format", "html")).stdout
    assert page.startswith("<!DOCTYPE html>") and "<h2>Integrity notices (1)</h2>" in page
    assert "10.1234/retraction-notice.7" in page and "retraction-watch" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = ok(harvest("digest", "--format", "markdown")).stdout
    assert text.startswith("# harvester digest") and "## Integrity notices (1)" in text
    assert r"\<script\>" in text and r"\*bold\*" in text


def test_mark_moves_the_point_and_since_looks_back_again(harvest):
    _kept_works(harvest)
    ok(harvest("digest", "--mark"))
    assert _digests(harvest.db_path) == [("marked", None, 3, 1, None)]
    assert "Nothing new." in ok(harvest("digest")).stdout
    again = ok(harvest("digest", "--since", "7d", "--format", "json")).stdout
    assert [n["notice_doi"] for n in json.loads(again)["notices"]] == [NOTICE.notice_doi]
    # a new correction after the point: it alone is news
    correction = Notice(kind="correction", asserted_by="publisher", source="crossref",
                        notice_doi="10.1234/erratum.1")  # fmt: skip
    _record_notice(harvest.db_path, KEPT_DOI, correction)
    shown = ok(harvest("digest")).stdout
    assert "CORRECTION  10.1234/kept.2021" in shown and "RETRACTION" not in shown
    assert "run 4" in shown.splitlines()[0]


# --- sending -----------------------------------------------------------------------------------


def test_the_digest_is_mailed_over_starttls_with_html_and_text_and_read_back(harvest, smtp):
    _kept_works(harvest)
    sent = harvest("--log-format", "json", "-v", "digest", "--send")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == (
        "digest sent to editor@example.org, library@example.org: 1 notice, 1 changed work, "
        "0 new works, 0 failures (runs 1–3)"
    )
    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["editor@example.org", "library@example.org"]
    assert envelope.mail_from == "harvester@example.org"
    assert smtp.logins == [(USER.encode(), PASSWORD.encode())]  # over TLS: required by the server
    [message] = smtp.messages()
    assert message["Subject"] == "harvester digest: 1 retraction, 1 changed work (runs 1–3)"
    assert message["To"] == "editor@example.org, library@example.org"
    assert message.get_content_type() == "multipart/alternative"
    text, html = _parts(message)
    for part in (text, html):
        assert RETRACTED in part and "10.1234/retraction-notice.7" in part
        assert "retraction-watch" in part and "Another paper, corrected" in part
    assert "<h2>Integrity notices (1)</h2>" in html
    assert '"event": "digest.sent"' in sent.stderr  # the log says so ...
    assert PASSWORD not in sent.stderr + sent.stdout  # ... and never the password
    assert _digests(harvest.db_path) == [("sent", None, 3, 1, None)]
    # the point moved: nothing new, and an empty digest is not sent
    quiet = ok(harvest("digest", "--send"))
    assert quiet.stdout.strip() == "digest: nothing new (nothing since run 3); not sent"
    assert len(smtp.envelopes) == 1


def test_a_refused_digest_is_kept_and_the_next_send_includes_it(harvest, smtp):
    _kept_works(harvest)
    smtp.refuse = "550 5.7.1 Message rejected by policy"
    refused = harvest("--log-format", "json", "-vv", "digest", "--send")
    assert refused.returncode == 8
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: 127.0.0.1:{smtp.port} refused the digest: 550 5.7.1 Message rejected by "
        "policy; kept for the next digest"
    )
    assert PASSWORD not in refused.stderr + refused.stdout
    assert smtp.envelopes == [] and refused.stdout == ""
    [(status, since, until, notices, error)] = _digests(harvest.db_path)
    assert (status, since, until, notices) == ("failed", None, 3, 1) and "550" in error

    # a later run's news, then the server takes mail again: one digest with both
    correction = Notice(kind="correction", asserted_by="publisher", source="crossref",
                        notice_doi="10.1234/erratum.1")  # fmt: skip
    _record_notice(harvest.db_path, KEPT_DOI, correction)
    smtp.refuse = None
    ok(harvest("digest", "--send"))
    [message] = smtp.messages()
    text, html = _parts(message)
    for part in (text, html):
        assert "10.1234/retraction-notice.7" in part and "10.1234/erratum.1" in part
    assert message["Subject"].startswith("harvester digest: 1 retraction, 1 correction")
    assert _digests(harvest.db_path)[-1][:4] == ("sent", None, 4, 2)


def test_a_server_that_is_down_or_refuses_the_login_keeps_the_digest(harvest, smtp):
    _kept_works(harvest)
    harvest.env["HARVEST_SMTP_PASSWORD"] = "wrong-password-here"
    wrong = harvest("--log-format", "json", "-vv", "digest", "--send")
    assert wrong.returncode == 8
    # the server quoted the password back; the error line and the log show it masked
    assert wrong.stderr.strip().splitlines()[-1] == (
        f"error: 127.0.0.1:{smtp.port} refused the digest: 535 5.7.8 no user {USER} with "
        "password ***; kept for the next digest"
    )
    assert '"event": "digest.not_sent"' in wrong.stderr
    assert "wrong-password-here" not in wrong.stderr + wrong.stdout
    assert "wrong-password-here" not in str(_digests(harvest.db_path))  # nor what is kept

    settings = harvest.config.read_text()
    harvest.config.write_text(QUICK_RETRIES + _digest_config(_free_port()))  # nobody listens
    harvest.env["HARVEST_SMTP_PASSWORD"] = PASSWORD
    gone = harvest("digest", "--send")
    assert gone.returncode == 8
    said = gone.stderr.strip().splitlines()[-1]  # after the log's line
    assert said.startswith("error: cannot send the digest through 127.0.0.1:")
    assert "Connection refused" in said and said.endswith("; kept for the next digest")
    assert [row[0] for row in _digests(harvest.db_path)] == ["failed", "failed"]
    assert smtp.envelopes == []
    harvest.config.write_text(settings)
    ok(harvest("digest", "--send"))
    assert [row[:3] for row in _digests(harvest.db_path)][-1] == ("sent", None, 3)


def test_no_starttls_offered_means_no_password_and_no_digest(tmp_path):
    """A server without STARTTLS (plain aiosmtpd) while `starttls = true`: refused before
    the login, so the password never crosses the wire in the clear."""
    mailbox = Mailbox()
    controller = _controller(mailbox)
    controller.start()
    try:
        harvest = HarvestCommand(tmp_path, {}, _digest_config(controller.port))
        harvest.env["HARVEST_SMTP_PASSWORD"] = PASSWORD
        _kept_works(harvest)
        proc = harvest("digest", "--send")
        assert proc.returncode == 8
        assert "does not offer STARTTLS" in proc.stderr and PASSWORD not in proc.stderr
        assert mailbox.envelopes == [] and mailbox.logins == []
        # a server on this machine that needs none: starttls = false, no login, plain SMTP
        harvest.config.write_text(_digest_config(controller.port, starttls="false", username='""'))
        ok(harvest("digest", "--send"))
        [message] = mailbox.messages()
        assert RETRACTED in _parts(message)[0]
    finally:
        controller.stop()


def test_a_password_in_the_config_file_is_a_secret_masked_everywhere(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[digest]\nusername = "u"\npassword = "{PASSWORD}"\n')
    secrets.forget_all()
    try:
        config = load_config(path, env={})
        assert config.digest.password == PASSWORD
        assert secrets.redact_text(f"login failed for {PASSWORD}") == "login failed for ***"
    finally:
        secrets.forget_all()


def test_send_without_recipients_is_a_configuration_error_before_anything(tmp_path):
    harvest = HarvestCommand(tmp_path, {}, '[digest]\nsender = "h@example.org"\n')
    _kept_works(harvest)
    proc = harvest("run", "--digest")
    assert proc.returncode == 2 and "[digest] recipients" in proc.stderr
    with sqlite3.connect(harvest.db_path) as conn:  # the run did not start
        assert conn.execute("SELECT count(*) FROM runs WHERE command LIKE '%run%'").fetchone() == (
            1,  # the notice's run, recorded by the test
        )
    (tmp_path / "b").mkdir()
    bad = HarvestCommand(tmp_path / "b", {}, '[digest]\nrecipients = ["not an address"]\n')
    assert bad("digest").returncode == 2


# --- harvest run --digest ----------------------------------------------------------------------


@pytest.fixture
def upstream():
    with ReplayUpstream() as replay:
        replay.add_crossref("10.1136_esmoopen-2020-000776")
        yield replay


ESMO = "10.1136/esmoopen-2020-000776"
HANDLE = "RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640"


def test_run_digest_mails_after_the_run_and_its_exit_code_says_what_failed(
    tmp_path, smtp, upstream
):
    """A tracked DOI whose value from the sources replaces a filled-in one (a change by
    Crossref), an identifier that fails (a failure that needs a person), then the digest."""
    config = QUICK_RETRIES + "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n"
    harvest = HarvestCommand(tmp_path, upstream.env(), config + _digest_config(smtp.port))
    harvest.env.update({"HARVEST_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(smtp.cert)})
    csv = tmp_path / "mine.csv"
    csv.write_text(f"doi,title,volume\n{ESMO},Lenvatinib (my note),99\n")
    ok(harvest("import", "--fill-gaps", str(csv)))
    # and a handle with no [repec] url to read it from: it fails until a person sets one
    ok(harvest("track", ESMO, HANDLE))
    run = harvest("run", "--digest")
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("digest sent to editor@example.org"), run.stderr
    assert lines[-2].startswith("2 identifier(s)")  # the run's summary line first
    assert run.returncode == 1  # the run's own code: an identifier failed; the digest went
    [message] = smtp.messages()
    text, html = _parts(message)
    for part in (text, html):
        assert "Changed fields of tracked works (1)" in part
        assert (
            "title: Lenvatinib (my note) -&gt;" in part or "title: Lenvatinib (my note) ->" in part
        )
        assert "[crossref, run 2]" in part
        assert "Failures that need a person (3)" in part
        assert f"{ESMO} at openalex: not found 1 time in a row" in part  # OpenAlex lacks it
        assert f"{HANDLE} at repec: failed 1 time in a row" in part
        assert "run 2 failures: 1 failed" in part

    # nothing new: no e-mail, the run's code
    quiet = harvest("run", "--digest")
    assert quiet.returncode == 0 and quiet.stdout.strip().endswith("; not sent")
    assert len(smtp.envelopes) == 1

    # the handle fails again (a failed run, exit 1) and the server refuses: 8 says the e-mail
    # did not go, and the summary line still says how the run went
    smtp.refuse = "554 5.3.0 no thanks"
    again = harvest("run", "--digest", "--retry-failed")
    assert again.returncode == 8, again.stderr
    assert "1 failed" in again.stdout.strip().splitlines()[-1]
    assert "kept for the next digest" in again.stderr and PASSWORD not in again.stderr
    assert _digests(harvest.db_path)[-1][0] == "failed"


def test_a_scheduled_run_sends_the_digest_when_the_schedule_says_so(tmp_path, smtp, upstream):
    """`[schedule] digest = true`: each job of `harvest schedule` is `harvest run --digest`.
    `--now` runs the job at once (not at 03:00), and SIGTERM ends the worker cleanly."""
    config = QUICK_RETRIES + "[openalex]\nrate = 1000.0\n[doi]\nrate = 1000.0\n"
    config += '[schedule]\ndigest = true\n[schedule.jobs]\nnightly = "0 3 * * *"\n'
    harvest = HarvestCommand(tmp_path, upstream.env(), config + _digest_config(smtp.port))
    harvest.env.update({"HARVEST_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(smtp.cert)})
    csv = tmp_path / "mine.csv"
    csv.write_text(f"doi,title,volume\n{ESMO},Lenvatinib (my note),99\n")
    ok(harvest("import", "--fill-gaps", str(csv)))
    ok(harvest("track", ESMO))
    worker = harvest.start("schedule", "--now")
    try:
        deadline = time.monotonic() + 60
        while not smtp.messages() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        [message] = smtp.messages()
        assert "Changed fields of tracked works (1)" in _parts(message)[0]
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert "nightly" in out and "digest sent to editor@example.org" in out
    assert _digests(harvest.db_path)[-1][0] == "sent"


def test_a_schedule_with_a_bad_digest_section_stops_at_start_up(tmp_path):
    """Told to send digests with no one to send them to: exit 2 before any job runs."""
    harvest = HarvestCommand(tmp_path, {}, "[schedule]\ndigest = true\n")
    proc = harvest("schedule", "--now")
    assert proc.returncode == 2, proc.stderr
    assert "[digest]" in proc.stderr
    assert not harvest.db_path.exists()


# --- a replayed retraction ---------------------------------------------------------------------

#: A real Crossref record (kept) and the Wakefield paper's real `updated-by` (kept, quoted from
#: Crossref's live answer): Retraction Watch's retraction (record 4036) and correction (17269).
KEPT_CROSSREF = "10.53731_ybhah-9jy85"
WAKEFIELD = KEPT / "crossref" / "updated-by_10.1016_s0140-6736-97-11096-0.jsonl"


def test_the_digest_after_a_replayed_retraction_names_it_and_who_asserted_it(tmp_path, smtp):
    with ReplayUpstream() as upstream:
        upstream.add_crossref(KEPT_CROSSREF)
        doi = load_json(f"crossref/{KEPT_CROSSREF}.json")["message"]["DOI"]
        upstream.set_agency(doi.split("/")[0], "Crossref")
        harvest = HarvestCommand(
            tmp_path, upstream.env(), QUICK_RETRIES + _digest_config(smtp.port)
        )
        harvest.env.update({"HARVEST_SMTP_PASSWORD": PASSWORD, "SSL_CERT_FILE": str(smtp.cert)})
        ok(harvest("track", doi))
        ok(harvest("run"))
        ok(harvest("digest", "--mark"))  # what was there before is read

        updates = [json.loads(line) for line in WAKEFIELD.read_text().splitlines()]
        upstream.change(doi, **{"updated-by": updates})
        ok(harvest("doi", "--refresh", doi))  # Crossref now says it was retracted
        sent = harvest("digest", "--send")
    assert sent.returncode == 0, sent.stderr
    document = json.loads(ok(harvest("digest", "--since", "1d", "--format", "json")).stdout)
    kept = [
        (n["kind"], n["notice_doi"], n["asserted_by"], n["record_id"]) for n in document["notices"]
    ]
    assert kept == [
        ("retraction", "10.1016/s0140-6736(10)60175-4", "retraction-watch", "4036"),
        ("correction", "10.1016/s0140-6736(04)15715-2", "retraction-watch", "17269"),
    ]
    [message] = smtp.messages()
    assert message["Subject"].startswith("harvester digest: 1 retraction, 1 correction")
    text, html = _parts(message)
    for part in (text, html):
        assert part.index("RETRACTION") < part.index("CORRECTION")  # the worst first
        assert doi in part and "10.1016/s0140-6736(10)60175-4" in part
        assert "record 4036" in part and "asserted by retraction-watch" in part


# --- new works from feeds ----------------------------------------------------------------------


def test_new_works_from_a_feed_are_listed_and_ones_asked_for_are_not(tmp_path, upstream):
    listing = "oaipmh/erasmus_ListRecords_oai_dc_from-2003-04-10.xml"
    upstream.add_oai({"verb": "Identify"}, "oaipmh/erasmus_Identify.xml")
    upstream.add_oai(
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2003-04-10"}, listing
    )
    endpoints = f'[oai]\nrate = 100.0\n\n[oai.endpoints]\nerasmus = "{upstream.url_for("oai")}"\n'
    harvest = HarvestCommand(tmp_path, upstream.env(), QUICK_RETRIES + endpoints)
    ok(harvest("--wait", "5", "oai", "erasmus", "--from", "2003-04-10", "--no-resolve-dois"))
    ok(harvest("doi", ESMO))  # asked for by name: not a feed's news
    document = json.loads(ok(harvest("digest", "--format", "json")).stdout)
    new = document["new_works"]
    assert len(new) == 16 and {w["sources"] for w in new} == {"oai"}
    assert ESMO not in {w["doi"] for w in new}
    with sqlite3.connect(harvest.db_path) as conn:
        titles = {row[0] for row in conn.execute("SELECT title FROM works WHERE id IN "
                                                 "(SELECT work_id FROM identifiers WHERE scheme = 'oai')")}  # fmt: skip
    assert {w["title"] for w in new} == titles
    shown = ok(harvest("digest")).stdout
    assert "New works from feeds (16)" in shown and "[oai, run 1]" in shown

    # the feed's next harvest fails: a failure that needs a person, and no new works
    ok(harvest("digest", "--mark"))
    upstream.fail("/oai", 503, times=None)
    assert harvest("oai", "erasmus").returncode == 1
    after = json.loads(ok(harvest("digest", "--format", "json")).stdout)
    assert after["new_works"] == [] and after["counts"]["failures"] == 2
    [feed] = after["failures"]["feeds"]
    assert "503" in feed["error"]
    [run] = after["failures"]["runs"]
    assert run["command"] == "harvest oai erasmus" and run["status"] != "ok"
    assert f"feed {feed['feed']}: " in ok(harvest("digest")).stdout


# --- the pure parts ----------------------------------------------------------------------------


def test_the_point_moves_only_with_a_delivered_digest_that_left_no_gap():
    rows = [
        {"status": "sent", "since_run": None, "until_run": 4},
        {"status": "failed", "since_run": 4, "until_run": 9},  # refused: moves nothing
        {"status": "sent", "since_run": 7, "until_run": 12},  # a --since that left 5-7 out
    ]
    assert point_of(rows) == 4
    assert point_of([*rows, {"status": "marked", "since_run": 4, "until_run": 10}]) == 10
    assert point_of([{"status": "failed", "since_run": None, "until_run": 3}]) is None
    assert point_of([]) is None


@pytest.mark.parametrize(
    ("command", "feed"),
    [
        ("harvest run", True),
        ("harvest --wait 1800 run --time-budget 5h", True),
        ("harvest --db run.db doi 10.1/x", False),
        ("harvest schedule", True),
        ("harvest oai zenodo --set user-rdmo", True),
        ("harvest repec --series RePEc:sae:woemps", True),
        ("harvest repec RePEc:sae:woemps:v:29:y:2015:i:4:p:624-640", False),
        ("harvest import mine.bib", False),
        ("harvest doi 10.1/run", False),
        (None, False),
    ],
)
def test_which_runs_are_feed_runs(command, feed):
    assert digest.is_feed_run(command) is feed


def test_a_run_still_going_waits_for_the_next_digest(tmp_path):
    store = open_store(tmp_path / "h.db")
    try:
        first = store.runs.start("harvest import mine.csv")
        store.runs.finish(first, "ok")
        going = store.runs.start("harvest run")
        assert store.digests.covered_until() == first
        store.runs.finish(going, "failures")
        assert store.digests.covered_until() == going
        assert store.digests.run_before("1970-01-01T00:00:00Z") is None  # --since before all
        assert store.digests.run_before("2999-01-01T00:00:00Z") == going
    finally:
        store.close()


def test_an_empty_digest_says_so_in_every_format():
    rows = {
        k: [] for k in ("notices", "changes", "new_works", "failed_runs", "failing", "failed_feeds")
    }
    made = digest.build(rows, since_run=4, until_run=4, made_at="2026-12-04T07:00:00Z")
    assert made.empty
    assert digest.text(made).endswith("Nothing new.")
    assert "<p>Nothing new.</p>" in digest.html(made)
    assert digest.subject(made) == "harvester digest: nothing new (nothing since run 4)"


def test_the_subject_counts_the_worst_news_first():
    rows = {k: [] for k in ("changes", "new_works", "failed_runs", "failing", "failed_feeds")}
    notice = {"work_id": 1, "doi": "10.1/a", "title": "A", "asserted_by": "publisher"}
    rows["notices"] = [
        {**notice, "kind": "retraction"},
        {**notice, "kind": "expression_of_concern"},
        {**notice, "kind": "expression_of_concern"},
        {**notice, "kind": "erratum"},
        {**notice, "kind": "erratum"},
    ]
    made = digest.build(rows, since_run=None, until_run=7, made_at="2026-12-04T07:00:00Z")
    assert digest.subject(made, "Nightly") == (
        "Nightly: 1 retraction, 2 expressions of concern, 2 errata (runs 1–7)"
    )
