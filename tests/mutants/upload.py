"""Mutants of the upload rules (suite module test_upload)."""

from __future__ import annotations

from typing import Any

from conformance.reference.errors import bad_argument
from conformance.reference.service import DirectLineService
from conformance.reference.store import StoredFile
from tests.mutants.framework import mutant

MODULE = "test_upload"


@mutant("DL-UPLOAD-001", modules=MODULE)
class RawBodyUploadRefused(DirectLineService):
    """Only multipart uploads are taken: a single raw file is refused with 400."""

    def parse_upload(
        self, content_type: str | None, content_disposition: str | None, body: bytes
    ) -> Any:
        if not (content_type or "").lower().startswith("multipart/"):
            raise bad_argument("Expected multipart/form-data")
        return super().parse_upload(content_type, content_disposition, body)


@mutant("DL-UPLOAD-002", modules=MODULE)
class UploadFromAnonymous(DirectLineService):
    """The uploaded activity comes from `anonymous`, not from the `userId` of the request."""

    def upload_activity(self, user_id: str, form: Any, origin: str) -> Any:
        return super().upload_activity("anonymous", form, origin)


@mutant("DL-UPLOAD-003", modules=MODULE)
class ActivityPartTextDropped(DirectLineService):
    """The activity part's text is dropped: only its attachments go out."""

    def upload_activity(self, user_id: str, form: Any, origin: str) -> Any:
        activity = super().upload_activity(user_id, form, origin)
        activity.pop("text", None)
        return activity


@mutant("DL-UPLOAD-004", modules=MODULE)
class WrapperMessageHasText(DirectLineService):
    """Files without an activity part are wrapped in a message with the text `(attachment)`."""

    def upload_activity(self, user_id: str, form: Any, origin: str) -> Any:
        activity = super().upload_activity(user_id, form, origin)
        if form.activity_json is None:
            activity["text"] = "(attachment)"
        return activity


@mutant("DL-UPLOAD-005", modules=MODULE)
class UploadWithoutUserIdAccepted(DirectLineService):
    """An upload without `userId` is accepted and sent from `anonymous`."""

    async def upload(self, credential: Any, conversation_id: str, user_id: str | None, *rest: Any):
        return await super().upload(credential, conversation_id, user_id or "anonymous", *rest)


@mutant("DL-UPLOAD-006", modules=MODULE)
class ContentUrlServesText(DirectLineService):
    """The contentUrl serves the file decoded and re-encoded as UTF-8 text (bytes mangled)."""

    def get_attachment(self, key: str) -> StoredFile:
        stored = super().get_attachment(key)
        mangled = stored.data.decode("utf-8", "replace").encode("utf-8")
        return StoredFile(stored.content_type, stored.name, mangled, stored.stored_at)


@mutant("DL-UPLOAD-007", modules=MODULE)
class AttachmentsReversed(DirectLineService):
    """Several files become attachments in reverse order."""

    def upload_activity(self, user_id: str, form: Any, origin: str) -> Any:
        activity = super().upload_activity(user_id, form, origin)
        if isinstance(activity.get("attachments"), list):
            activity["attachments"].reverse()
        return activity


@mutant("DL-UPLOAD-008", modules=MODULE)
class DeclaredAttachmentsKeptBesideTheFiles(DirectLineService):
    """The attachments the activity part lists are kept and the files added: 2N attachments."""

    def upload_activity(self, user_id: str, form: Any, origin: str) -> Any:
        activity = super().upload_activity(user_id, form, origin)
        if form.activity_json is not None:
            declared = self.parse_activity_text(form.activity_json).get("attachments") or []
            activity["attachments"] = list(declared) + list(activity.get("attachments") or [])
        return activity


@mutant("DL-UPLOAD-004", modules=MODULE)
class FilePartsAloneRefused(DirectLineService):
    """A multipart upload without an activity part is refused with 400: files alone are taken
    only as a raw single-file body."""

    def parse_upload(
        self, content_type: str | None, content_disposition: str | None, body: bytes
    ) -> Any:
        form = super().parse_upload(content_type, content_disposition, body)
        if (content_type or "").lower().startswith("multipart/") and form.activity_json is None:
            raise bad_argument("A multipart upload needs an activity part")
        return form
