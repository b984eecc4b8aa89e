"""The per-row report of an import: what each row would do or did, and why not."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


class RowStatus:
    OK = "ok"                # new: created, or would be created in a dry run
    UNCHANGED = "unchanged"  # already in the database exactly as in the file
    ERROR = "error"
    LABELS = {OK: "新增", UNCHANGED: "未变化", ERROR: "错误"}


@dataclass(frozen=True)
class Message:
    code: str
    text: str
    field: str | None = None


@dataclass
class RowResult:
    row: int                      # as numbered in the file, the header being row 1
    status: str = RowStatus.OK
    key: str = ""                 # the house (and item, period) the row is about
    messages: list[Message] = field(default_factory=list)

    def error(self, code: str, text: str, field_name: str | None = None) -> None:
        self.status = RowStatus.ERROR
        self.messages.append(Message(code, text, field_name))

    @property
    def ok(self) -> bool:
        return self.status != RowStatus.ERROR


@dataclass
class ImportReport:
    kind: str                     # houses | readings | arrears
    filename: str = ""
    sha256: str = ""
    dry_run: bool = False
    committed: bool = False
    rows: list[RowResult] = field(default_factory=list)
    file_errors: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)

    def add_row(self, number: int) -> RowResult:
        result = RowResult(number)
        self.rows.append(result)
        return result

    def file_error(self, code: str, text: str) -> None:
        self.file_errors.append(Message(code, text))

    @property
    def has_errors(self) -> bool:
        return bool(self.file_errors) or any(r.status == RowStatus.ERROR for r in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        counts = {RowStatus.OK: 0, RowStatus.UNCHANGED: 0, RowStatus.ERROR: 0}
        for result in self.rows:
            counts[result.status] += 1
        counts["total"] = len(self.rows)
        return counts

    def errors(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == RowStatus.ERROR]

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["counts"] = self.counts
        data["has_errors"] = self.has_errors
        return data

    def summary(self) -> str:
        c = self.counts
        head = f"共 {c['total']} 行：新增 {c['ok']}，未变化 {c['unchanged']}，错误 {c['error']}"
        if self.has_errors:
            return f"{head}。有错误，未写入任何数据。"
        if self.dry_run:
            return f"{head}。试运行，未写入数据。"
        if self.committed:
            made = "，".join(f"{k} {v}" for k, v in self.created.items())
            return f"{head}。已写入：{made}。"
        return f"{head}。没有需要写入的数据。"

    def lines(self) -> list[str]:
        """Human-readable lines, errors first (file errors, then rows in order)."""
        out = [f"[文件] {m.text} ({m.code})" for m in self.file_errors]
        ordered = self.errors() + [r for r in self.rows if r.status != RowStatus.ERROR]
        for result in ordered:
            label = RowStatus.LABELS[result.status]
            detail = "；".join(f"{m.text} ({m.code})" for m in result.messages)
            line = f"第 {result.row} 行 [{label}] {result.key}".rstrip()
            out.append(f"{line}：{detail}" if detail else line)
        out.extend(f"[提示] {note}" for note in self.notes)
        out.append(self.summary())
        return out
