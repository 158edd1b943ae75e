"""Search, ask and chat through a running `ragkit serve` (the `server` setting, `--server URL`): a
question skips this process's cold start (imports, embedder and model loads); the server's warm models
answer. Returns the library's own types (Source, Answer, AnswerStream), so callers need not care."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ragkit.answers import Answer, AnswerStream, Source
from ragkit.cancel import CancelToken
from ragkit.errors import ConfigError, EmptyIndexError, NoMatchError, RagkitError
from ragkit.retrieval.retriever import Retrieval
from ragkit.sse import sse_json

if TYPE_CHECKING:
    import httpx


class ServerError(RagkitError):
    """The ragkit server cannot be reached or refused the request."""

    exit_code = 9


_ERRORS: dict[int, type[RagkitError]] = {400: ConfigError, 404: NoMatchError, 409: EmptyIndexError}


class ServerClient:
    def __init__(self, url: str, *, api_key: str | None = None, index: str | None = None,
                 timeout: float = 600.0) -> None:  # fmt: skip
        import httpx

        self.url = url.rstrip("/")
        self.index = index
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0))

    def close(self) -> None:
        self._http.close()

    def _checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        if response.status_code == 401:
            raise ConfigError(f"the server at {self.url} refused the API key", "set --api-key or RAGKIT_API_KEY")
        error_class = _ERRORS.get(response.status_code, ServerError)
        raise error_class(f"{message} (server {self.url})")

    def _unreachable(self, exc: Exception) -> ServerError:
        return ServerError(f"cannot reach the ragkit server at {self.url}: {exc}", "start it with: ragkit serve")

    def search(
        self, query: str, k: int | None = None, *, where: Iterable[str] | None = None, mode: str | None = None
    ) -> list[Source]:
        import httpx

        body = {"query": query, "k": k, "where": list(where) if where else None, "mode": mode, "index": self.index}
        try:
            response = self._checked(self._http.post("/api/search", json=body))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return [source_from_dict(p) for p in response.json()["passages"]]

    def ask_stream(
        self,
        question: str,
        *,
        where: Iterable[str] | None = None,
        history: list[dict[str, str]] | None = None,
        cancel: CancelToken | None = None,
    ) -> AnswerStream:
        """The answer streamed from the server; its sources arrive with the last chunk."""
        import httpx

        cancel = cancel or CancelToken()
        body = {
            "model": f"ragkit:{self.index}" if self.index else "", "stream": True,
            "messages": [*(history or []), {"role": "user", "content": question}],
            "ragkit": {"where": list(where)} if where else None,
        }  # fmt: skip
        try:
            response = self._http.send(self._http.build_request("POST", "/v1/chat/completions", json=body),
                                       stream=True)  # fmt: skip
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            self._checked(response)
        final: dict[str, Any] = {}
        stream: AnswerStream

        def tokens() -> Iterator[str]:
            for chunk in sse_json(response, cancel, self._unreachable):  # a cancel: the server stops too
                if "error" in chunk:
                    raise ServerError(f"{chunk['error'].get('message', 'the answer failed')} (server {self.url})")
                if "ragkit" in chunk:
                    final.update(chunk)
                    stream.sources = [source_from_dict(s) for s in chunk["ragkit"]["sources"]]
                delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
                if delta.get("content"):
                    yield delta["content"]

        def finish(text: str) -> Answer:
            extension = final.get("ragkit") or {}
            usage = final.get("usage") or {}
            return Answer(
                question=question, text=text.strip(), sources=stream.sources,
                cited=[s["number"] for s in extension.get("sources", []) if s.get("cited")],
                model=str(final.get("model", "")), prompt_tokens=int(usage.get("prompt_tokens", 0)),
                n_ctx=0, warning=extension.get("warning"), invalid_citations=extension.get("invalid_citations", []),
                found=bool(extension.get("found", True)), not_found_reason=extension.get("not_found_reason"),
                stopped=bool(extension.get("stopped", not final)), cached=bool(extension.get("cached", False)),
            )  # fmt: skip

        stream = AnswerStream([], "", None, tokens(), finish, cancel_token=cancel)
        return stream


def source_from_dict(data: dict[str, Any]) -> Source:
    retrieval = data.get("retrieval")
    return Source(
        number=int(data["number"]), path=str(data["path"]), start_line=data.get("start_line"),
        end_line=data.get("end_line"), score=float(data.get("score") or 0.0), text=str(data.get("text", "")),
        headings=str(data.get("headings") or ""), page=data.get("page"), end_page=data.get("end_page"),
        kind=str(data.get("kind") or ""), retrieval=Retrieval(**retrieval) if isinstance(retrieval, dict) else None,
    )  # fmt: skip


class ServerChat:
    """A conversation kept here and sent whole with each question; the server retrieves for it as
    `Chat` does (the same interface: ask_stream, sources, turns, reset)."""

    def __init__(self, client: ServerClient, *, where: Iterable[str] | None = None) -> None:
        from ragkit.answering.chat import Turn

        self.client = client
        self.where = where
        self.turns: list[Turn] = []

    @property
    def sources(self) -> list[Source]:
        return self.turns[-1].answer.sources if self.turns else []

    def reset(self) -> None:
        self.turns.clear()

    def ask_stream(self, question: str, cancel: CancelToken | None = None) -> AnswerStream:
        from ragkit.answering.chat import Turn

        history = [m for t in self.turns for m in ({"role": "user", "content": t.question},
                                                   {"role": "assistant", "content": t.answer.text})]  # fmt: skip
        stream = self.client.ask_stream(question, where=self.where, history=history, cancel=cancel)
        stream.on_answer = lambda answer: self.turns.append(Turn(question, question, answer))
        return stream
