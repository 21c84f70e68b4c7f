"""Forgetting across stages: how much each domain's bits per byte rose after each stage.

Positive numbers are worse (the model forgot); negative numbers mean the domain improved.
"""

from __future__ import annotations


def _bpb(stage: dict, domain: str) -> float | None:
    value = stage.get("eval", {}).get(domain, {}).get("bpb")
    return None if value is None else float(value)


def forgetting(stages: list[dict], domains: list[str]) -> dict:
    """{domain: {"vs_previous", "vs_start", "vs_start_pct"}}, each {stage_name: value} for every stage after the
    first; a value is None where a stage lacks that domain's bpb."""
    out: dict[str, dict] = {}
    for domain in domains:
        start = _bpb(stages[0], domain) if stages else None
        vs_previous: dict[str, float | None] = {}
        vs_start: dict[str, float | None] = {}
        vs_start_pct: dict[str, float | None] = {}
        for prev, stage in zip(stages, stages[1:]):
            now, before = _bpb(stage, domain), _bpb(prev, domain)
            name = stage["name"]
            vs_previous[name] = None if now is None or before is None else now - before
            vs_start[name] = None if now is None or start is None else now - start
            vs_start_pct[name] = None if now is None or not start else 100.0 * (now - start) / start
        out[domain] = {"vs_previous": vs_previous, "vs_start": vs_start, "vs_start_pct": vs_start_pct}
    return out


def summary(forgetting: dict, domains_old: list[str]) -> dict:
    """The largest relative rise in bpb over the start among the domains the base already knew, at any stage
    and at the last stage: {"max_increase_pct", "domain", "stage", "final_max_increase_pct", "final_domain"}."""
    worst = (None, None, None)  # (pct, domain, stage)
    final = (None, None)  # (pct, domain)
    for domain in domains_old:
        pcts = forgetting.get(domain, {}).get("vs_start_pct", {})
        for stage, pct in pcts.items():
            if pct is not None and (worst[0] is None or pct > worst[0]):
                worst = (pct, domain, stage)
        if pcts:
            last = list(pcts.values())[-1]
            if last is not None and (final[0] is None or last > final[0]):
                final = (last, domain)
    return {
        "max_increase_pct": worst[0],
        "domain": worst[1],
        "stage": worst[2],
        "final_max_increase_pct": final[0],
        "final_domain": final[1],
    }


def continual_metrics(stages: list[dict], domains: list[str], learned_at: dict[str, str] | None = None) -> dict:
    """Average forgetting (Chaudhry et al., 2018) and backward transfer (Lopez-Paz and Ranzato, 2017) over domains,
    in bits per byte, with performance = -bpb so signs read as in the papers.

    learned_at maps a domain to the stage that taught it (default: the first stage). For a domain learned at stage
    l, after the last stage T: forgetting = max over stages l..T-1 of its performance minus its performance at T
    (larger means more forgotten; negative when the domain kept improving); backward transfer = performance at T minus performance right after l
    (negative means forgotten). Domains learned at the last stage, or missing a needed bpb, are left out.
    """
    names = [s["name"] for s in stages]
    per_domain: dict[str, dict[str, float]] = {}
    if len(stages) >= 2:
        for domain in domains:
            first = (learned_at or {}).get(domain, names[0])
            if first not in names or names.index(first) == len(names) - 1:
                continue
            start = names.index(first)
            before = [_bpb(s, domain) for s in stages[start:-1]]
            final = _bpb(stages[-1], domain)
            if final is None or any(b is None for b in before):
                continue
            per_domain[domain] = {
                "forgetting": max(-b for b in before) - (-final),  # type: ignore[operator]
                "backward_transfer": -final - (-before[0]),  # type: ignore[operator]
            }
    n = len(per_domain)
    return {
        "average_forgetting": sum(d["forgetting"] for d in per_domain.values()) / n if n else None,
        "backward_transfer": sum(d["backward_transfer"] for d in per_domain.values()) / n if n else None,
        "per_domain": per_domain,
        "final_stage": names[-1] if names else None,
    }
