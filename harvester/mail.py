"""Sending the digest by e-mail through an SMTP server (`[digest]` in the config).

The password comes from the environment variable `[digest] password_env` (or `password` in the
config file), and is made a secret (`secrets.remember`) before anything can quote it, so that
no log line or error message shows it. STARTTLS is required when configured: a server that
does not offer it gets neither the password nor the digest.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import structlog

from harvester import secrets
from harvester.config import DigestConfig
from harvester.errors import ConfigError, DigestNotSent

log = structlog.get_logger(__name__)


def check_settings(settings: DigestConfig) -> None:
    """What sending needs, said before anything is done (before a nightly run that ends in
    `--digest`): recipients and a sender."""
    if not settings.recipients:
        raise ConfigError('[digest] recipients: name who gets the digest, e.g. ["you@example.org"]')
    if not settings.sender:
        raise ConfigError('[digest] sender: the From address, e.g. "harvester@example.org"')


def password(settings: DigestConfig, env: Mapping[str, str]) -> str | None:
    """The SMTP password (None without a `username`): the environment's, else the config
    file's, remembered as a secret at once."""
    if not settings.username:
        return None
    value = env.get(settings.password_env) or settings.password
    if not value:
        raise ConfigError(
            f"[digest] username is set but there is no password: set {settings.password_env} "
            "in the environment"
        )
    secrets.remember([value])
    return value


def compose(settings: DigestConfig, subject: str, text: str, html: str) -> EmailMessage:
    """The digest as one message: the plain text, and the HTML as its alternative."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(message: EmailMessage, settings: DigestConfig, secret: str | None) -> None:
    """Hand the message to the SMTP server, for every recipient; DigestNotSent (nothing to
    count as delivered) when the server cannot be reached, refuses TLS, the login, the sender
    or any recipient."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise DigestNotSent(
                        f"{where} does not offer STARTTLS, so neither the password nor the "
                        "digest was sent (starttls = false in [digest] for a server that "
                        "needs none)"
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, secret or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DigestNotSent(
            f"{where} refused every recipient: {_refusals(exc.recipients)}"
        ) from None
    except smtplib.SMTPResponseException as exc:
        said = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        raise DigestNotSent(f"{where} refused the digest: {exc.smtp_code} {said}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DigestNotSent(f"cannot send the digest through {where}: {exc}") from None
    if refused:
        # Those who got it get it again next time: a repeat is better than a loss.
        raise DigestNotSent(f"{where} refused some recipients: {_refusals(refused)}")
    log.info("digest.sent", server=where, recipients=list(settings.recipients))


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {said.decode('utf-8', 'replace') if isinstance(said, bytes) else said})"
        for address, (code, said) in recipients.items()
    )
