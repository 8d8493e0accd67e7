"""The `document_processing` job: uploaded -> parsing -> chunking -> indexing -> done, in a Ray task;
the text and its index are kept in the job store, so `quiz_generation` can use it by documentId."""

from __future__ import annotations

from typing import Any

from jobs.context import JobContext
from jobs.params import DocumentProcessingParams
from jobs.words import plural

# Where each stage starts in the overall progress.
STAGE_START = {"parsing": 5.0, "chunking": 60.0, "indexing": 70.0}
STAGE_SPAN = {"parsing": 55.0, "chunking": 10.0, "indexing": 25.0}
STAGE_TEXT = {"parsing": "Extracting the text", "chunking": "Splitting into chunks", "indexing": "Indexing key terms"}


async def run(ctx: JobContext, params: DocumentProcessingParams) -> dict[str, Any]:
    """Extract, chunk and index the upload in a Ray task (jobs.tasks.process_document), reporting
    progress by stage (1 % uploaded, 5-60 parsing, 60-70 chunking, 70-95 indexing, 97 saving), and
    save the text and index under `params.document_id`.

    Returns the job's result: {"documentId", "filename", "characters", "chunks" (count), "terms"
    (up to 20 key terms), "summary"}. DocumentError (422, shown as it is) for an upload that has no
    readable text or is too large; JobCancelled when cancelled; RuntimeError if the task ends
    without a result (a bug)."""
    from jobs.tasks import process_document

    content, filename = params.raw_bytes()
    ctx.progress(1.0, f"Uploaded {filename} ({len(content):,} bytes)", stage="uploaded")
    stage = "parsing"

    def on_item(item: Any) -> None:  # ["stage", name] or [fraction, message], from the task
        nonlocal stage
        if item[0] == "stage":
            stage = item[1]
            ctx.progress(STAGE_START[stage], STAGE_TEXT[stage], stage=stage)
        else:
            fraction, message = item
            ctx.progress(STAGE_START[stage] + STAGE_SPAN[stage] * float(fraction), message, stage=stage)

    link = await ctx.link(on_item)
    result: dict[str, Any] = await ctx.track(process_document.remote(content, filename, link))  # type: ignore[attr-defined]
    await ctx.drained(link)
    ctx.check_cancelled()
    ctx.progress(97.0, "Saving the document", stage="indexing")
    assert params.document_id is not None
    await ctx.store.save_document(params.document_id, ctx.educator_id, filename, result["text"], result["index"])
    ctx.progress(99.0, "Done", stage="done")
    return {
        "documentId": params.document_id,
        "filename": filename,
        "characters": len(result["text"]),
        "chunks": result["chunks"],
        "terms": result["terms"],
        "summary": f"{plural(result['chunks'], 'chunk')} indexed",
    }
