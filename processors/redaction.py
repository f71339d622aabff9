"""``redaction`` processor: masks secrets in the free-text attributes of Claude Code and Cowork
events (``prompt``, ``response``, ``tool_parameters``, ``tool_input``, ``error`` by default).

Each secret found is replaced by ``[REDACTED:<pattern name>]`` and the text around it is kept,
so a JSON string (``tool_parameters``) stays valid JSON: no pattern can end inside an escape
sequence or take a quote. For labelled secrets only the secret goes: ``Bearer <token>``,
``Authorization: Basic <credentials>``, ``aws_secret_access_key=<key>``,
``scheme://user:<password>@host`` and ``https://hooks.slack.com/services/<path>`` keep their
label, user and host. Keys listed in ``deny_keys`` lose their whole value (``[REDACTED]``),
keys in ``allow_keys`` are never touched, non-string values and the body are left alone.
A record where something was masked gets ``summary_attribute`` (the number of masks this
processor applied to it). Masking is idempotent: masked text holds nothing that a built-in
pattern matches again.

Built-in patterns, applied in this order (specific ones first, so a JWT sent as a bearer token
is masked once, as ``jwt``):

- ``private_key``: ``-----BEGIN ... PRIVATE KEY-----`` through its ``-----END`` line (raw
  or ``\\n``-escaped lines); without an END line, the header and the base64 lines after it
- ``jwt``: ``eyJ...`` . ``ey...`` . signature, in base64url
- ``anthropic_api_key``: ``sk-ant-`` + 20 or more key characters
- ``openai_api_key``: ``sk-``, ``sk-proj-``, ``sk-svcacct-`` or ``sk-admin-`` + 20 or more key
  characters with an upper-case letter among them, or + 32 or more hex digits
- ``aws_access_key_id``: ``AKIA`` or ``ASIA`` + 16 upper-case letters or digits
- ``aws_secret_access_key``: 40 base64 characters after ``aws_secret_access_key``,
  ``secret_access_key``, ``SecretAccessKey`` or ``aws_secret_key`` (``=``, ``:`` or a space)
- ``github_token``: ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_`` + 36 or more,
  ``github_pat_`` + 22 or more
- ``slack_webhook_url``: the path of ``https://hooks.slack.com/services/...`` (also
  ``workflows/`` and ``triggers/``)
- ``slack_token``: ``xoxa-``, ``xoxb-``, ``xoxp-``, ``xoxr-``, ``xoxs-`` + 10 or more
- ``google_api_key``: ``AIza`` + 35
- ``url_password``: the password of ``scheme://user:password@host``
- ``authorization``: the credentials after ``Authorization:`` or ``"Authorization": "``
  (after a scheme such as ``Basic`` when there is one)
- ``bearer_token``: the token after ``Bearer``

They are precise on purpose: keys need their prefix and length, and keys start at a word
boundary (``task-...`` is not ``sk-...``; an escape sequence such as ``\\n``, ``\\t`` or
``\\u001b[32m`` before a key is a boundary too: texts holding escapes are also searched with
them blanked, :func:`boundary_view`; a secret whose own characters are escaped,
``sk\\u002dant-...`` or ``https:\\/\\/user:password@``, or percent-encoded,
``postgres%3A%2F%2Fuser%3Apassword%40db``, is found in the text decoded and masked whole
escape sequences at a time, :func:`decoded_view`); the tokens after ``Bearer`` and ``Authorization``
need 8 or more characters with an upper-case letter, digit, ``+``, ``/`` or ``=`` after the
first (so prose such as "bearer authentication" stays); UUIDs, ``toolu_...`` ids, hashes,
paths and URLs without a password are never masked. The labels ``Bearer``,
``Authorization`` and ``secret_access_key`` are recognised in lower, Capitalised and UPPER
case.

``extra_patterns`` (regular expressions) run after the built-in ones and are replaced by
``[REDACTED:extra]``; when one has a group named ``secret``, only that group is masked.

Speed: a batch's texts are searched together, and only the few that may hold a secret are
masked one by one (``RedactionProcessor.suspects``). The listed attributes of every record
are read (``LogRecord.pick``: one lookup each, nothing else decoded), joined by newlines and
searched once by one RE2 set holding a "gate" of every built-in pattern (``_GATES``: what any
match contains, without look-arounds), a linear pass in C: about 0.25 us per record on the
load generator's Claude Code records. Only the patterns whose gate opened are searched with
``re`` over the joined texts, to find the texts they start in; those texts go through
``mask_text``. Texts holding an escape that may hide a secret (``_HIDING``: another gate of
the set) are decoded together and gated again, and one by one only if a gate opens there.
``mask_text`` is an ordered list of separately compiled patterns, each tried only when one of
its literal triggers is in the text (a pattern is cheaper to skip than to search), then with
``search`` before ``subn``. Records where nothing was masked are not changed at all: their
protobuf encoding stays, and a Kafka exporter forwards it as it came.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any, ClassVar

import re2
from pydantic import Field, field_validator, model_validator

from collector.component import ComponentConfig, ComponentID, Consumer, Factory, Host, Kind
from collector.pdata.records import AnyValue, LogBatch, LogRecord
from collector.pdata.signals import Signal, TracesBatch
from collector.telemetry import metrics

TYPE = "redaction"

DEFAULT_ATTRIBUTES = ("prompt", "response", "tool_parameters", "tool_input", "error")
DENIED = "[REDACTED]"


class RedactionConfig(ComponentConfig):
    attributes: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    extra_patterns: list[str] = Field(default_factory=list)
    allow_keys: list[str] = Field(default_factory=list)
    deny_keys: list[str] = Field(default_factory=list)
    summary_attribute: str = "redaction.masked.count"

    @field_validator("extra_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
            if compiled.search("") is not None:
                raise ValueError(f"regular expression {pattern!r} matches the empty string")
        return value

    @model_validator(mode="after")
    def _allow_and_deny_disjoint(self) -> RedactionConfig:
        both = sorted(set(self.allow_keys) & set(self.deny_keys))
        if both:
            raise ValueError(f"keys both in allow_keys and deny_keys: {', '.join(both)}")
        return self


def create(
    component_id: ComponentID, config: RedactionConfig, next_consumer: Consumer
) -> RedactionProcessor:
    return RedactionProcessor(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.PROCESSOR,
    TYPE,
    RedactionConfig,
    create,
    "masks secrets in prompts, responses, tool input and errors (and in span attributes)",
    frozenset({Signal.LOGS, Signal.TRACES}),
)


# -- patterns -------------------------------------------------------------------------------

# Characters of a bearer token or of HTTP credentials. Never a quote or a backslash, so a
# masked JSON string stays valid; never ``[`` or ``]``, so masked text does not match again.
_TOKEN_CHARS = r"A-Za-z0-9._~+/=-"
# 8 or more token characters, with an upper-case letter, digit, ``+``, ``/`` or ``=`` after
# the first one: "Authorization: required" and "bearer authentication" are prose.
_TOKEN = rf"(?=[{_TOKEN_CHARS}]+[A-Z0-9+/=])[{_TOKEN_CHARS}]{{8,}}"
# An optional quote after a label or separator, maybe escaped (JSON inside a JSON string).
_QUOTE = r"""(?:\\?["'])?"""

#: (name, pattern, triggers). The secret is the group named ``secret`` when there is one,
#: else the whole match. A pattern runs only if one of its triggers is in the text: every
#: match of the pattern holds one of them (a literal it starts with, or its label).
_BUILTIN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "private_key",
        r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:[A-Za-z0-9+/=\r\n]|\\[nr])*)",
        ("-----BEGIN",),
    ),
    (
        "jwt",
        r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        ("eyJ",),
    ),
    ("anthropic_api_key", r"sk-ant-(?<![A-Za-z0-9]sk-ant-)[A-Za-z0-9_-]{20,}", ("sk-ant-",)),
    (
        "openai_api_key",
        r"sk-(?<![A-Za-z0-9]sk-)(?!ant-)(?:(?:proj|svcacct|admin)-)?"
        r"(?:(?=[A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{20,}|[a-f0-9]{32,}(?![A-Za-z0-9_-]))",
        ("sk-",),
    ),
    (
        "aws_access_key_id",
        r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        ("AKIA", "ASIA"),
    ),
    (
        "aws_secret_access_key",
        r"(?:[Ss]ecret_?[Aa]ccess_?[Kk]ey|SECRET_ACCESS_KEY|[Aa]ws_?[Ss]ecret_?[Kk]ey"
        rf"|AWS_SECRET_KEY){_QUOTE}\s*[:=]?\s*{_QUOTE}"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("ecret", "ECRET"),
    ),
    (
        "github_token",
        r"g(?<![A-Za-z0-9]g)(?:h[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    (
        "slack_webhook_url",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/]+)",
        ("hooks.slack.com/",),
    ),
    ("slack_token", r"xox[abprs]-(?<![A-Za-z0-9]xox[abprs]-)[A-Za-z0-9-]{10,}", ("xox",)),
    ("google_api_key", r"AIza(?<![A-Za-z0-9]AIza)[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", ("AIza",)),
    (
        "url_password",
        # a password may hold quotes: a single one as it is, a double one escaped (``\\"``,
        # inside a JSON string), taken whole so that the masked JSON stays valid
        r"""://[^\s:@/?#"'\\\[\]]*:(?P<secret>(?:[^\s@/?#"\\\[\]]|\\["'])+)@""",
        ("://",),
    ),
    (
        "authorization",
        rf"(?:[Aa]uthorization|AUTHORIZATION){_QUOTE}\s*[:=]\s*{_QUOTE}"
        r"(?:(?i:bearer|basic|token|digest|negotiate|apikey|api-key)\s+)?"
        rf"(?P<secret>{_TOKEN})",
        ("uthorization", "UTHORIZATION"),
    ),
    ("bearer_token", rf"(?:[Bb]earer|BEARER)\s+(?P<secret>{_TOKEN})", ("earer", "EARER")),
)


#: What every match of a built-in pattern contains, as RE2 syntax (no look-arounds): the
#: texts of a batch are searched for all of them at once by one ``re2.Set``, in one linear
#: pass in C, and only the patterns whose gate opened are searched with ``re``. Each gate is
#: the pattern with its look-arounds and tail taken away, so it matches wherever the pattern
#: does (RE2's ``\s`` is ASCII: the gates use none; ``[^...]`` admits any other character).
_GATES: dict[str, str] = {
    "private_key": r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY",
    "jwt": r"eyJ[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8}",
    "anthropic_api_key": r"sk-ant-[A-Za-z0-9_-]{20}",
    "openai_api_key": r"sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20}",
    "aws_access_key_id": r"A[KS]IA[A-Z0-9]{16}",
    "aws_secret_access_key": r"[Ss]ecret_?[Aa]ccess_?[Kk]ey|SECRET_ACCESS_KEY"
    r"|[Aa]ws_?[Ss]ecret_?[Kk]ey|AWS_SECRET_KEY",
    "github_token": r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22}",
    "slack_webhook_url": r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]",
    "slack_token": r"xox[abprs]-[A-Za-z0-9-]{10}",
    "google_api_key": r"AIza[A-Za-z0-9_-]{35}",
    "url_password": r"""://[^:@/?#"'\\\[\]]*:(?:[^@/?#"\\\[\]]|\\["'])+@""",
    "authorization": r"[Aa]uthorization|AUTHORIZATION",
    "bearer_token": r"[Bb]earer|BEARER",
}
#: what every escape that may hide a secret (``_HIDING``) matches, the last gate of the set
_HIDING_GATE = r"\\u[0-9a-fA-F]{4}|\\/|%[0-9A-Fa-f]{2}"
#: a pattern that may run far (``[\s\S]*?``) is searched across texts by what it starts with
_PREFILTERS = {"private_key": r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----"}


def _gate_set() -> Any:
    gates = re2.Set.SearchSet(re2.Options())
    for pattern in _BUILTIN:
        if gates.Add(_GATES[pattern[0]]) < 0:  # pragma: no cover - the gates are fixed
            raise ValueError(f"invalid gate for {pattern[0]}")
    if gates.Add(_HIDING_GATE) < 0:  # pragma: no cover - fixed
        raise ValueError("invalid gate for hidden secrets")
    gates.Compile()
    return gates


class _Pattern:
    """One compiled pattern and how its matches are replaced."""

    __slots__ = ("_group", "_token", "exact", "name", "prefilter", "regex", "triggers")

    def __init__(
        self, name: str, source: str, triggers: tuple[str, ...] = (), *, exact: bool = True
    ) -> None:
        self.name = name
        self.regex = re.compile(source)
        #: what every match starts with, searched across the texts of a batch (suspects)
        self.prefilter = re.compile(_PREFILTERS.get(name, source))
        self.triggers = triggers
        #: every match masks something (true of the built-in patterns, which cannot match
        #: empty text), so ``re.subn`` counts; extra patterns count their non-empty matches
        self.exact = exact
        self._token = f"[REDACTED:{name}]"
        self._group = self.regex.groupindex.get("secret")

    def _mask(self, match: re.Match[str]) -> str:
        if self._group is None:
            return self._token
        start, end = match.span(self._group)
        base, text = match.start(), match.group(0)
        return text[: start - base] + self._token + text[end - base :]

    def apply(self, text: str) -> tuple[str, int]:
        """``text`` with this pattern's matches masked, and how many were masked; call it
        only when ``regex.search(text)`` found something (:meth:`RedactionProcessor.mask_text`
        checks that first, in its own loop: most texts have no secret)."""
        if self.exact:
            if self._group is None:
                return self.regex.subn(self._token, text)
            return self.regex.subn(self._mask, text)
        count = 0

        def mask_non_empty(match: re.Match[str]) -> str:
            nonlocal count
            start, end = match.span(self._group or 0)
            if start == end:
                return match.group(0)
            count += 1
            return self._mask(match)

        return self.regex.sub(mask_non_empty, text), count

    def apply_in_view(
        self, text: str, view: str, offsets: list[int] | None = None
    ) -> tuple[str, int]:
        """``text`` with the secrets this pattern finds in ``view`` masked where they stand
        in ``text``: ``view`` is ``text`` with escape sequences blanked
        (:func:`boundary_view`, the same positions), or decoded (:func:`decoded_view`), where
        ``offsets`` says where each of its characters starts in ``text``."""
        parts: list[str] = []
        done = count = 0
        for match in self.regex.finditer(view):
            start, end = match.span(self._group or 0)
            if offsets is not None:
                start, end = offsets[start], offsets[end]
            if start == end or start < done:
                continue
            parts.append(text[done:start])
            parts.append(self._token)
            done = end
            count += 1
        parts.append(text[done:])
        return "".join(parts), count


#: Escape sequences as they stand in JSON text inside a string (``\\n``, ``\\t``,
#: ``\\u001b``, ...) and ANSI colour codes, raw or escaped (``\\u001b[32m``): a secret right
#: after one starts at a boundary, but the patterns' look-behinds see the ``n`` of ``\\n``.
_COLOUR = re.compile(r"\\u001[bB]\[[0-9;?]*[A-Za-z]|\x1b\[[0-9;?]*[A-Za-z]")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")
_ESCAPE = re.compile(r"\\.", re.DOTALL)


def boundary_view(text: str) -> str:
    """``text`` with each escape sequence replaced by as many spaces: the same positions,
    and a boundary wherever an escape was. Fixed-width escapes are replaced in C."""
    if "\x1b" in text or "u001" in text:  # colour codes, rare: of any width
        text = _COLOUR.sub(lambda m: " " * len(m.group()), text)
    return _ESCAPE.sub("  ", _UNICODE_ESCAPE.sub("      ", text))


#: What may hide a secret from the patterns even with escapes blanked: an escaped character
#: of the secret itself (``sk\\u002dant-``, ``https:\\/\\/user:password@``) or a
#: percent-encoded one (``postgres%3A%2F%2Fuser%3Apassword%40host``, ``key%3Dsk-ant-...``).
#: Texts holding one are also searched decoded (:func:`decoded_view`).
_HIDING = re.compile(r"\\u(?!00(?:22|5[cC]))[0-9a-fA-F]{4}|\\/|%[0-9A-Fa-f]{2}")
#: what :func:`decoded_view` decodes: JSON escapes but an escaped quote or backslash (they
#: stay escaped, so a quote in the view is one that ends a JSON string), and ``%XX``
_DECODABLE = re.compile(r"\\u(?!00(?:22|5[cC]))[0-9a-fA-F]{4}|\\[/bfnrt]|%[0-9A-Fa-f]{2}")
_SIMPLE_ESCAPES = {"/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_RAW_COLOUR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _decoded(escape: str) -> str:
    if escape[0] == "%":
        return chr(int(escape[1:], 16))
    if escape[1] == "u":
        return chr(int(escape[2:], 16))
    return _SIMPLE_ESCAPES[escape[1]]


def _decode_one(match: re.Match[str]) -> str:
    return _decoded(match.group())


def _decode(text: str) -> str:
    """``text`` as :func:`decoded_view` sees it, without the offsets and colour codes."""
    return _DECODABLE.sub(_decode_one, text)


def decoded_view(text: str) -> tuple[str, list[int]]:
    """``text`` with its JSON escapes and ``%XX`` escapes decoded, colour codes blanked, and
    where each character of it starts in ``text`` (one more entry: the end of ``text``). A
    match's span ``a, b`` in the view is ``offsets[a], offsets[b]`` in ``text``: whole escape
    sequences, so masking it keeps a JSON string valid."""
    parts: list[str] = []
    offsets: list[int] = []
    done = 0
    for match in _DECODABLE.finditer(text):
        start = match.start()
        if start > done:
            parts.append(text[done:start])
            offsets.extend(range(done, start))
        parts.append(_decoded(match.group()))
        offsets.append(start)
        done = match.end()
    parts.append(text[done:])
    offsets.extend(range(done, len(text) + 1))
    view = "".join(parts)
    if "\x1b" in view:
        view = _RAW_COLOUR.sub(lambda m: " " * len(m.group()), view)
    return view, offsets


BUILTIN_PATTERNS: tuple[_Pattern, ...] = tuple(_Pattern(*spec) for spec in _BUILTIN)
BUILTIN_NAMES: tuple[str, ...] = tuple(p.name for p in BUILTIN_PATTERNS)
#: the index of ``_HIDING_GATE`` in the gate set, after the built-in patterns' gates
_HIDING_INDEX = len(BUILTIN_PATTERNS)


# -- processor ------------------------------------------------------------------------------


class _Masks:
    """What the processor masks in one record."""

    __slots__ = ("count", "record", "values")

    def __init__(self, record: LogRecord) -> None:
        self.record = record
        self.values: dict[str, AnyValue] = {}
        self.count = 0


class RedactionProcessor:
    mutates_data: ClassVar[bool] = True

    def __init__(
        self, component_id: ComponentID, config: RedactionConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        #: masks applied since the start, deny_keys replacements included
        self._redactions = metrics.redactions.labels(str(component_id))
        self.masked_total = 0
        allow = set(config.allow_keys)
        self._deny = tuple(dict.fromkeys(config.deny_keys))  # never in allow_keys
        self._scan = tuple(
            dict.fromkeys(
                k for k in config.attributes if k not in allow and k not in config.deny_keys
            )
        )
        self._patterns = BUILTIN_PATTERNS + tuple(
            _Pattern("extra", source, exact=False) for source in config.extra_patterns
        )
        self._table = tuple((p.triggers, p.regex.search, p) for p in self._patterns)
        self._gates = _gate_set()
        self._prefilters = tuple(p.prefilter.search for p in BUILTIN_PATTERNS)
        self._extra = bool(config.extra_patterns)
        self._summary = config.summary_attribute

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: LogBatch | TracesBatch) -> None:
        if isinstance(batch, TracesBatch):
            self._mask_spans(batch)
            await self.next_consumer.consume(batch)
            return
        # The texts of the batch are gathered and searched together (see suspects); only the
        # few that may hold a secret are masked one by one, and only their records change.
        texts: list[str] = []
        owners: list[tuple[LogRecord, str]] = []
        scan = self._scan
        for record in batch.records:
            for key, value in record.pick(scan):
                if type(value) is str and value:
                    texts.append(value)
                    owners.append((record, key))
        changes: dict[int, _Masks] = {}
        if self._deny:
            for record in batch.records:
                self._deny_keys(record, changes)
        for i in self.suspects(texts):
            masked, found = self.mask_text(texts[i])
            if found:
                record, key = owners[i]
                masks = changes.get(id(record)) or changes.setdefault(id(record), _Masks(record))
                masks.values[key] = masked
                masks.count += found
        total = 0
        for masks in changes.values():
            record = masks.record
            attributes = record.attributes
            attributes.update(masks.values)
            if self._summary:
                attributes[self._summary] = masks.count
            record.source = None  # its protobuf no longer matches: re-encode it
            record.derived = None  # derived from what was just masked: derive it again
            total += masks.count
        if total:
            self._redactions.inc(total)
        self.masked_total += total
        await self.next_consumer.consume(batch)

    def _mask_spans(self, batch: TracesBatch) -> None:
        """Every string attribute of a span and of its events is searched (spans carry the
        prompt as ``user_prompt`` and tool input under names of their own), except
        ``allow_keys``; ``deny_keys`` lose their value; a span that changed gets
        ``summary_attribute``.

        The spans of a batch are gated together on their protobuf encoding (serialized in C,
        read as Latin-1 so each byte is one character): a string holds its text verbatim
        there, so a span in which no pattern's gate opens holds no secret in any string, and
        only the others have their attributes read one by one."""
        spans = [item.pb for item in batch.records]
        if not self._deny and not self._extra:
            blobs = [span.SerializeToString().decode("latin-1") for span in spans]
            spans = [spans[i] for i in self.suspects(blobs)]
        allow, deny = set(self.config.allow_keys), set(self._deny)
        total = 0
        for span in spans:
            count = 0
            for kvs in (span.attributes, *(event.attributes for event in span.events)):
                for kv in kvs:
                    value = kv.value
                    if kv.key in deny:
                        if value.string_value != DENIED:
                            value.string_value = DENIED
                            count += 1
                    elif kv.key not in allow and value.string_value:
                        masked, found = self.mask_text(value.string_value)
                        if found:
                            value.string_value = masked
                            count += found
            if count and self._summary:
                summary = next((kv for kv in span.attributes if kv.key == self._summary), None)
                if summary is None:
                    summary = span.attributes.add(key=self._summary)
                summary.value.int_value = count
            total += count
        if total:
            self._redactions.inc(total)
        self.masked_total += total

    def _deny_keys(self, record: LogRecord, changes: dict[int, _Masks]) -> None:
        # A present key goes whatever its value, even empty: decode the attributes to know.
        attributes = record.attributes
        for key in self._deny:
            if key in attributes and attributes[key] != DENIED:
                masks = changes.get(id(record)) or changes.setdefault(id(record), _Masks(record))
                masks.values[key] = DENIED
                masks.count += 1

    def suspects(self, texts: list[str]) -> list[int]:
        """The indexes of the texts in which a pattern may match, in order.

        All the texts are joined by newlines and searched at once, in C: first by the gates
        of every built-in pattern together (``_GATES``, one RE2 pass), then each pattern
        whose gate opened, with ``re``, over the whole. A pattern that matches within a text
        also matches there, because no pattern needs the start or end of its text (a newline
        satisfies every look-around they use), so a text with a secret is never missed. A
        match that starts in a text makes it a suspect, and the search goes on from the next
        text. No pattern crosses a newline except through whitespace, so a search never runs
        far past its text; the private key pattern is searched by its header alone. Texts are
        masked one by one afterwards, so a suspect without a secret (a match across texts)
        costs only time. With ``extra_patterns`` (which may anchor on the ends of a text)
        every text is one.
        """
        if self._extra or len(texts) < 2:
            return list(range(len(texts)))
        joined = "\n".join(texts)
        try:
            opened = self._gates.Match(joined)
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no UTF-8 for RE2
            return list(range(len(texts)))
        if not opened:
            return []
        hiding = None
        if _HIDING_INDEX in opened:  # an escape that may hide a secret: search decoded too
            opened.remove(_HIDING_INDEX)
            if self._opens(_decode(joined)):  # then find the texts, one by one
                hiding = _HIDING.search(joined)
        starts = [0]
        for text in texts:
            starts.append(starts[-1] + len(text) + 1)
        last = len(texts) - 1
        found: set[int] = set()
        # a gate opened in the decoded texts: which texts with an escape that may hide a
        # secret open one once decoded
        while hiding is not None:
            i = bisect_right(starts, hiding.start()) - 1
            if self._opens(_decode(texts[i])):
                found.add(i)
            if i >= last:
                break
            hiding = _HIDING.search(joined, starts[i + 1])
        # escape sequences blanked too (the same positions): a secret right after one
        views = [joined]
        if "\\" in joined or "\x1b" in joined:
            views.append(boundary_view(joined))
        for index in opened:
            search = self._prefilters[index]
            for view in views:
                match = search(view)
                while match is not None:
                    i = bisect_right(starts, match.start()) - 1
                    found.add(i)
                    if i >= last:
                        break
                    match = search(view, starts[i + 1])
        return sorted(found)

    def _opens(self, text: str) -> bool:
        """Whether a built-in pattern's gate opens in ``text``."""
        try:
            opened = self._gates.Match(text)
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for RE2, a suspect
            return True
        return bool(opened) and opened != [_HIDING_INDEX]

    def mask_text(self, text: str) -> tuple[str, int]:
        """``text`` with every secret masked, and the number of secrets masked. A text with
        escape sequences is searched again with them blanked (:func:`boundary_view`), so that
        a secret right after ``\\n`` or a colour code is found too; the masks replace only
        the secret, so a JSON text stays valid JSON."""
        count = 0
        for triggers, search, pattern in self._table:
            if triggers:
                for trigger in triggers:
                    if trigger in text:
                        break
                else:
                    continue
            if search(text) is not None:
                text, found = pattern.apply(text)
                count += found
        if "\\" in text or "\x1b" in text:
            view = boundary_view(text)
            for triggers, search, pattern in self._table:
                if triggers and not any(trigger in view for trigger in triggers):
                    continue
                if search(view) is not None:
                    text, found = pattern.apply_in_view(text, view)
                    if found:
                        count += found
                        view = boundary_view(text)
        if _HIDING.search(text) is not None:
            view, offsets = decoded_view(text)
            for triggers, search, pattern in self._table:
                if triggers and not any(trigger in view for trigger in triggers):
                    continue
                if search(view) is not None:
                    text, found = pattern.apply_in_view(text, view, offsets)
                    if found:
                        count += found
                        view, offsets = decoded_view(text)
        return text, count
