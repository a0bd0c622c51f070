"""What a contract run found: one line per contract item, pass or fail, with the evidence.

report = ContractReport("sagemaker", "train", image="localhost/mldock/iris:1f2e", image_id="sha256:...")
report.add("train.exit", code == 0, f"exit code {code}")
print(report.table()); report.to_dict(); report.passed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ContractItem", "ContractReport"]


@dataclass(frozen=True)
class ContractItem:
    """One contract item: its name (`train.model-packed`), what it requires, whether it held, and the evidence."""

    name: str
    requirement: str
    passed: bool
    evidence: str


@dataclass
class ContractReport:
    """The items of one contract run of `task` on `platform` against one image (tag and ID)."""

    platform: str
    task: str
    image: str
    image_id: str
    items: list[ContractItem] = field(default_factory=list)
    started_as: str = ""
    """How the container was started (command, network, mounts, variables)."""
    logs: str = ""

    def add(self, name: str, passed: bool, evidence: str, requirement: str = "") -> bool:
        """Record an item; returns `passed` so a caller can skip what depends on it."""
        self.items.append(ContractItem(name, requirement, bool(passed), evidence))
        return bool(passed)

    @property
    def passed(self) -> bool:
        """True when there is at least one item and every item passed."""
        return bool(self.items) and all(item.passed for item in self.items)

    @property
    def failed(self) -> list[ContractItem]:
        """The items that did not hold."""
        return [item for item in self.items if not item.passed]

    def table(self) -> str:
        """A plain-text table: item, PASS/FAIL, requirement and evidence; a summary line last."""
        width = max((len(item.name) for item in self.items), default=4)
        lines = [f"{self.platform} {self.task} contract of {self.image} ({self.image_id[:19]})"]
        if self.started_as:
            lines.append(f"started as: {self.started_as}")
        lines.append("")
        for item in self.items:
            status = "PASS" if item.passed else "FAIL"
            lines.append(f"{item.name:<{width}}  {status}  {item.requirement}")
            for evidence_line in item.evidence.splitlines() or [""]:
                lines.append(f"{'':<{width}}        {evidence_line}")
        failed = len(self.failed)
        verdict = "passed" if self.passed else f"FAILED ({failed} of {len(self.items)} items)"
        lines += ["", f"{len(self.items)} items: {verdict}"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what `mldock contract --json` prints)."""
        return {
            "platform": self.platform,
            "task": self.task,
            "image": self.image,
            "image_id": self.image_id,
            "started_as": self.started_as,
            "passed": self.passed,
            "items": [
                {"name": i.name, "requirement": i.requirement, "passed": i.passed, "evidence": i.evidence}
                for i in self.items
            ],
        }
