"""The mail outbox over SQLAlchemy Core, attachments kept with their message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.records import (
    _delete,
    _Records,
    claim_due,
)
from portal_core.model.mail import Attachment, Email
from portal_core.model.outbox import OutboxMessage, OutboxStatus


class SqlAlchemyOutbox(_Records[OutboxMessage]):
    table, kind = t.outbox, OutboxMessage

    def __init__(self, connection: sa.Connection) -> None:
        super().__init__(connection)
        # The messages read so far that have attachments (each read says so: _select): only theirs are then read,
        # so a sign-in code's mail costs no second statement, in the claim nor in code_mail_stuck.
        self._attached: set[str] = set()

    def _select(self) -> sa.Select[Any]:
        a = t.outbox_attachments.c
        return sa.select(self.table, sa.exists().where(a.outbox_id == t.outbox.c.id).label("has_attachments"))

    def _to_row(self, item: OutboxMessage) -> dict[str, Any]:
        return {"id": item.id, "message_id": item.message_id, "purpose": item.purpose.value,
                "to_addr": item.email.to, "reply_to": item.email.reply_to, "subject": item.email.subject,
                "text_body": item.email.text, "html_body": item.email.html, "status": item.status.value,
                "attempts": item.attempts, "created_at": item.created_at, "next_attempt_at": item.next_attempt_at,
                "give_up_at": item.give_up_at, "claimed_until": item.claimed_until, "sent_at": item.sent_at,
                "last_error": item.last_error, "company_id": item.company_id, "contact_id": item.contact_id,
                "subject_ref": item.subject_ref, "audit_action": item.audit_action,
                "audit_detail": item.audit_detail}

    def _from_row(self, row: sa.RowMapping) -> OutboxMessage:
        if row.get("has_attachments"):
            self._attached.add(row["id"])
        email = Email(to=row["to_addr"], subject=row["subject"], text=row["text_body"], html=row["html_body"],
                      reply_to=row["reply_to"])
        return OutboxMessage(id=row["id"], message_id=row["message_id"], email=email, purpose=row["purpose"],
                             created_at=row["created_at"], give_up_at=row["give_up_at"],
                             next_attempt_at=row["next_attempt_at"], status=row["status"],
                             attempts=row["attempts"], claimed_until=row["claimed_until"], sent_at=row["sent_at"],
                             last_error=row["last_error"], company_id=row["company_id"],
                             contact_id=row["contact_id"], subject_ref=row["subject_ref"],
                             audit_action=row["audit_action"], audit_detail=row["audit_detail"])

    def add(self, item: OutboxMessage) -> None:
        super().add(item)
        if item.email.attachments:
            self._execute(t.outbox_attachments.insert().values([
                {"outbox_id": item.id, "position": n, "filename": a.filename, "content_type": a.content_type,
                 "content": a.content} for n, a in enumerate(item.email.attachments)]))

    def _with_attachments(self, messages: list[OutboxMessage]) -> list[OutboxMessage]:
        """The messages with their attachments, read in one statement (none when no message has any)."""
        if not any(message.id in self._attached for message in messages):
            return messages
        a = t.outbox_attachments.c
        query = self._built(("attachments",), lambda: sa.select(t.outbox_attachments).where(
            a.outbox_id.in_(sa.bindparam("ids", expanding=True))).order_by(a.outbox_id, a.position))
        rows = self._execute_with(query, {"ids": [m.id for m in messages if m.id in self._attached]}).mappings()
        found: dict[str, list[Attachment]] = {}
        for row in rows:
            found.setdefault(row["outbox_id"], []).append(
                Attachment(filename=row["filename"], content_type=row["content_type"], content=bytes(row["content"])))
        for message in messages:
            if message.id in found:
                message.email = attrs.evolve(message.email, attachments=tuple(found[message.id]))
        return messages

    def get(self, id_: str) -> OutboxMessage | None:
        found = super().get(id_)
        return self._with_attachments([found])[0] if found is not None else None

    def claim_due(self, now: dt.datetime, *, limit: int, ids: Sequence[str] | None = None) -> list[OutboxMessage]:
        return self._with_attachments(claim_due(self, now, limit=limit, ids=ids))

    def latest_about(self, subject_ref: str) -> OutboxMessage | None:
        c = t.outbox.c
        found = self._first(("latest_about",), lambda: self._select().where(c.subject_ref == sa.bindparam("ref"))
                            .order_by(c.created_at.desc(), self._text(c.id).desc()), {"ref": subject_ref})
        return self._with_attachments([found])[0] if found is not None else None

    def counts(self) -> dict[OutboxStatus, int]:
        c = t.outbox.c
        rows = self._execute(sa.select(c.status, sa.func.count()).group_by(c.status)).all()
        return {OutboxStatus(status): int(count) for status, count in rows}

    def list_failed(self, *, limit: int = 1000) -> list[OutboxMessage]:
        c = t.outbox.c
        return self._with_attachments(self._all(c.status == OutboxStatus.FAILED.value,
                                                order_by=[c.created_at, self._text(c.id)], limit=limit))

    def prune(self, sent_before: dt.datetime) -> int:
        c = t.outbox.c
        old = sa.and_(c.status == OutboxStatus.SENT.value, c.sent_at < sent_before)
        # Explicitly, not only by the foreign key's cascade: an embedder's SQLite engine may leave foreign keys off.
        self._execute(t.outbox_attachments.delete().where(
            t.outbox_attachments.c.outbox_id.in_(sa.select(c.id).where(old))))
        return _delete(self._connection, t.outbox, old)
