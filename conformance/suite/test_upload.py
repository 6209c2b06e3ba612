"""Upload: ``POST /v3/directline/conversations/{id}/upload?userId=`` (send page § Send
attachment(s) by upload, API reference § Upload and Send File(s)).

Two forms must work (catalog decision 3): one raw file as the body (its ``Content-Type``, a
``Content-Disposition`` with the file name), and ``multipart/form-data`` with ``file`` parts and at
most one ``application/vnd.microsoft.activity`` part. DL-UPLOAD-009 (files may be deleted after
24 hours) is a MAY with nothing to observe in a run: no test.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Conversation, DirectLineClient, UploadFile
from conformance.errors import PreconditionFailed
from conformance.evidence import Exchange
from conformance.suite import expect, steps

requirement = pytest.mark.requirement
cost = pytest.mark.cost
#: Every upload test uses one conversation: each finds its upload by the id answered.
upload_lane = pytest.mark.lane("upload")

#: The user the uploads speak for (not steps.USER_ID, so from.id shows it came from ``userId``).
UPLOADER = "dl_conformance_uploader"

TEXT_FILE = UploadFile(
    "conformance-notes.txt", b"uploaded by directline-conformance\n", "text/plain"
)
#: Every byte value, behind a PNG signature: bytes a text-minded server would mangle.
BINARY_FILE = UploadFile(
    "conformance-bytes.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"
)
SEVERAL_FILES = [
    UploadFile("conformance-first.txt", b"first file\n", "text/plain"),
    UploadFile("conformance-second.json", b'{"second": true}\n', "application/json"),
    UploadFile("conformance-third.bin", bytes(range(64)), "application/octet-stream"),
]


def upload(
    client: DirectLineClient,
    conversation: Conversation,
    files: list[UploadFile],
    **options: Any,
) -> Exchange:
    """Upload ``files`` as UPLOADER with the conversation's credential."""
    options.setdefault("user_id", UPLOADER)
    return client.upload(conversation.id, files, auth=steps.credential(conversation), **options)


def uploaded_activity(
    client: DirectLineClient,
    conversation: Conversation,
    answer: Exchange,
    what: str,
    *,
    rule: str | None = None,
) -> dict[str, Any] | None:
    """The recorded activity of an upload; None when the history has no activity under the id
    answered (the caller judges that).

    The upload is what the calling test's rule is about, so its refusal fails that rule
    (``rule``: another rule instead, when the upload only sets the stage); a 2xx without an id
    fails DL-UPLOAD-001 (the calling test's own rule is then inconclusive).
    """
    expect.status(answer, range(200, 300), requirement=rule, what=what)
    body = expect.json_object(answer, requirement=rule)
    activity_id = body.get("id")
    expect.that(
        isinstance(activity_id, str) and activity_id != "",
        f"{what}: a 2xx answer with the activity's id",
        f"{answer.status} with body {answer.text.strip()[:120]!r}",
        [answer],
        requirement="DL-UPLOAD-001",
    )
    activities = steps.history(client, conversation, until=steps.has_ids(activity_id))
    return next((a for a in activities if a.get("id") == activity_id), None)


def attachments_of(activity: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (activity or {}).get("attachments")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def described(attachments: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """(name, contentType) of each attachment, in order."""
    return [(a.get("name"), a.get("contentType")) for a in attachments]


def expect_recorded(
    activity: dict[str, Any] | None, answer: Exchange, client: DirectLineClient
) -> dict[str, Any]:
    """The upload's activity, or a Violation: an accepted upload must be recorded."""
    if activity is None:
        raise expect.Violation(
            f"the history holds the activity the upload answered ({answer.text.strip()[:80]})",
            "no activity under that id",
            [answer, *client.recorder.exchanges[-1:]],
        )
    return activity


@pytest.mark.smoke
@upload_lane
@cost(requests=1, activities=1)
@requirement("DL-UPLOAD-001")
def test_single_file_upload_answers_2xx_with_id(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A single raw file with its Content-Type and Content-Disposition answers 2xx ``{id}``."""
    answer = upload(dl_client, dl_conversation, [TEXT_FILE], single=True)
    expect.status(answer, range(200, 300), what="uploading one file as the raw body")
    body = expect.json_object(answer)
    expect.that(
        isinstance(body.get("id"), str) and body["id"] != "",
        'a ResourceResponse {"id": <non-empty string>}',
        f"body {body!r:.200}",
        [answer],
    )


@upload_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-UPLOAD-002")
def test_single_file_upload_records_a_message_with_it(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """The single-file upload records a message from ``userId`` with one attachment of the sent
    content type and file name."""
    answer = upload(dl_client, dl_conversation, [TEXT_FILE], single=True)
    activity = expect_recorded(
        uploaded_activity(
            dl_client, dl_conversation, answer, "uploading one file", rule="DL-UPLOAD-001"
        ),
        answer,
        dl_client,
    )
    sender = activity.get("from")
    observed = {
        "type": activity.get("type"),
        "from.id": sender.get("id") if isinstance(sender, dict) else None,
        "attachments": described(attachments_of(activity)),
    }
    expected = {
        "type": "message",
        "from.id": UPLOADER,
        "attachments": [(TEXT_FILE.name, TEXT_FILE.content_type)],
    }
    expect.equal(
        observed, expected, "the uploaded activity (type, from.id, [(name, contentType)])", [answer]
    )


@upload_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-UPLOAD-003")
def test_multipart_activity_part_is_sent_with_the_files(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A multipart upload with an activity part sends that activity, its text kept, with every
    file part as an attachment."""
    text = steps.unique_text("upload with text")
    files = SEVERAL_FILES[:2]
    answer = upload(dl_client, dl_conversation, files, activity=steps.message(text, user=UPLOADER))
    activity = expect_recorded(
        uploaded_activity(dl_client, dl_conversation, answer, "uploading an activity and files"),
        answer,
        dl_client,
    )
    expect.equal(activity.get("text"), text, "the uploaded activity's text", [answer])
    present = described(attachments_of(activity))
    missing = [(f.name, f.content_type) for f in files if (f.name, f.content_type) not in present]
    expect.that(
        not missing,
        f"an attachment for every file part: {[(f.name, f.content_type) for f in files]!r}",
        f"attachments {present!r}; missing {missing!r}",
        [answer],
    )


@upload_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-UPLOAD-004")
def test_multipart_without_activity_part_sends_an_empty_message(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """A multipart upload without an activity part wraps the files in an empty message."""
    answer = upload(dl_client, dl_conversation, [TEXT_FILE])
    activity = expect_recorded(
        uploaded_activity(dl_client, dl_conversation, answer, "uploading a file part alone"),
        answer,
        dl_client,
    )
    observed = {
        "type": activity.get("type"),
        "text": activity.get("text") or None,
        "attachments": described(attachments_of(activity)),
    }
    expected = {
        "type": "message",
        "text": None,
        "attachments": [(TEXT_FILE.name, TEXT_FILE.content_type)],
    }
    expect.equal(
        observed,
        expected,
        "the wrapping activity (type, text absent or empty, [(name, contentType)])",
        [answer],
    )


@upload_lane
@cost(requests=1)
@requirement("DL-UPLOAD-005")
def test_upload_without_user_id_is_refused(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """An upload without ``userId`` is refused with a 4xx and an ErrorResponse."""
    answer = upload(dl_client, dl_conversation, [TEXT_FILE], single=True, user_id=None)
    expect.status(answer, range(400, 500), what="uploading without userId")
    expect.error_response(answer)


@upload_lane
@cost(requests=2, activities=1, pagings=1)
@requirement("DL-UPLOAD-006")
def test_content_url_serves_the_uploaded_bytes(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """An uploaded attachment's ``contentUrl`` serves the uploaded bytes unchanged."""
    answer = upload(dl_client, dl_conversation, [BINARY_FILE], single=True)
    activity = uploaded_activity(
        dl_client, dl_conversation, answer, "uploading one file", rule="DL-UPLOAD-001"
    )
    found = attachments_of(activity)
    if not found:
        raise PreconditionFailed(
            "could not test: the upload recorded no attachment (DL-UPLOAD-002 judges that)",
            exchange=answer,
        )
    url = found[0].get("contentUrl")
    expect.that(
        isinstance(url, str) and url.lower().startswith(("http://", "https://")),
        "the attachment has an http(s) contentUrl",
        f"contentUrl {url!r}",
        [answer, *dl_client.recorder.exchanges[-1:]],
    )
    fetched = dl_client.request("GET", str(url), auth=None)
    expect.status(fetched, 200, what="GET of the attachment's contentUrl", api=False)
    body = fetched.response_body or b""
    expect.that(
        body == BINARY_FILE.content,
        f"the {len(BINARY_FILE.content)} uploaded bytes, unchanged",
        f"{len(body)} bytes{'' if len(body) != len(BINARY_FILE.content) else ' that differ'}",
        [answer, fetched],
    )


@upload_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-UPLOAD-007")
def test_several_files_become_attachments_in_order(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """Several file parts become several attachments, in the order sent."""
    answer = upload(
        dl_client,
        dl_conversation,
        SEVERAL_FILES,
        activity=steps.message(steps.unique_text("several files"), user=UPLOADER),
    )
    activity = uploaded_activity(dl_client, dl_conversation, answer, "uploading several files")
    expect.equal(
        [a.get("name") for a in attachments_of(activity)],
        [f.name for f in SEVERAL_FILES],
        "the attachment names in order",
        [answer, *dl_client.recorder.exchanges[-1:]],
    )


@upload_lane
@cost(requests=1, activities=1, pagings=1)
@requirement("DL-UPLOAD-008")
def test_official_client_form_gives_one_attachment_per_file(
    dl_client: DirectLineClient, dl_conversation: Conversation
) -> None:
    """The official client's form (an activity part listing the attachments without contentUrl,
    and one file part each) yields exactly one attachment per file."""
    files = SEVERAL_FILES[:2]
    activity = steps.message(
        steps.unique_text("official client upload"),
        user=UPLOADER,
        attachments=[{"contentType": f.content_type, "name": f.name} for f in files],
    )
    answer = upload(dl_client, dl_conversation, files, activity=activity)
    recorded = uploaded_activity(
        dl_client, dl_conversation, answer, "uploading in the official client's form"
    )
    found = attachments_of(recorded)
    expect.that(
        len(found) == len(files),
        f"exactly {len(files)} attachments, one per file",
        f"{len(found)} attachments: {described(found)!r}",
        [answer, *dl_client.recorder.exchanges[-1:]],
    )
