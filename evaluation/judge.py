"""The clinical judge of section 4.1.4: sorts each predicted diagnosis against a reference label.

Pure Python (no Django): evaluation runs, the annotation consistency check and the Stage II reward
(in verl's reward workers) all call it.

Two sources decide a verdict:

* ``ontology`` — when both names resolve in the ontology, the relation between the two conditions
  decides (rules below). Deterministic and fast; no LLM call.
* ``llm`` — a name the ontology cannot resolve goes to the ``judge`` role of the LLM gateway. All
  such names of one reference are sent in one call (chunked when long), grounded with the
  ontology's view of the reference; the JSON reply is validated, repaired once, and cached per
  repeat (``cache_salt="repeat=N"``) so the paper's three evaluation repeats stay independent.

Ontology rules, in order (the first that applies wins):

1. empty or nonsense prediction (no letters, a non-answer such as "unknown", the prompt's own
   placeholder, an essay instead of a name) -> ``invalid``;
2. an entry naming more than one condition ("psoriasis or eczema", "eczema / psoriasis / tinea")
   -> ``invalid``, decided here and never by the LLM: a top-K list has K slots, and an entry that
   hedges between conditions would buy extra chances inside one slot. A name the ontology knows as
   one condition ("SJS/TEN", "hand, foot and mouth disease", SCIN's "Lichen planus/lichenoid
   eruption") is not split;
3. same condition (synonyms and abbreviations resolve to one id) -> ``exact``;
4. the pair crosses a safety boundary -> ``safety_critical``. This runs *before* subclass and parent
   credit: an edge of the hierarchy that crosses a flag never earns credit;
5. prediction is a descendant of the reference -> ``subclass`` (more specific, same treatment line);
6. prediction is an ancestor -> never credited (``parent_broad``) when the ancestor's subtree spans a
   safety boundary and the reference is on its dangerous side (malignant/premalignant/indeterminate,
   or infectious): "vascular tumour" holds both angioma and angiosarcoma, so it cannot be credited
   for Kaposi sarcoma. Otherwise the ancestor's curated ``parent_credit`` decides, whatever the number
   of levels between them: ``close`` -> ``parent_close``, ``coarse`` -> ``parent_coarse`` (both
   correct: treatment consistent or directionally right), ``broad`` -> ``parent_broad`` ("dermatitis",
   "skin cancer", "papulosquamous disorder": members are managed differently). So "urticaria" is
   credited for cholinergic urticaria three levels down, and "papulosquamous disorder" is not
   credited for psoriasis one level down;
7. the two are in the same close family -> ``sibling``: they share a parent (an umbrella root
   such as "skin disease" does not count), or a common ancestor at most two levels above each that
   is not ``too_broad``. The second half matters because the ontology nests groups: bullous
   pemphigoid (under "pemphigoid") and pemphigus vulgaris (under "pemphigus") are the classic
   autoimmune-blistering confusion, yet share only the grandparent "autoimmune bullous disease";
   psoriasis and lichen planus share "papulosquamous disorder" one and two levels up;
8. otherwise -> ``unrelated``.

Safety boundaries. Neoplastic axis: the clinically relevant question is "does this lesion need
oncological action (excision, biopsy, field treatment, surveillance)?". ``malignant``,
``premalignant`` and ``indeterminate`` are on the action side, ``benign`` and ``non_neoplastic`` on
the other, so calling an actinic keratosis a seborrhoeic keratosis (a missed precancer) is
safety-critical, while calling it a squamous cell carcinoma is not (both lead to treatment; it falls
through to sibling/unrelated). Infectious axis: ``True`` vs ``False`` (e.g. tinea corporis vs
nummular eczema: steroids on a fungal infection). A node whose own flag is ``None`` (mixed or
unspecified) takes the side its whole subtree agrees on (the AKIEC union of actinic keratosis and
Bowen disease is on the action side) and claims no crossing when the subtree is mixed. A different
agent within infections (bacterial vs fungal) is not a boundary crossing.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Awaitable, Sequence, TypeVar

if TYPE_CHECKING:  # both are pure modules; imported lazily so the offline judge needs neither at import
    from evaluation.ontology import Condition, Ontology
    from webapp.llm import LLMGateway

__all__ = [
    "CATEGORIES",
    "CORRECT_CATEGORIES",
    "CATEGORY_DESCRIPTIONS",
    "ClinicalJudge",
    "JudgeError",
    "Verdict",
    "normalize_name",
    "run_sync",
]

CATEGORIES: tuple[str, ...] = (
    "exact",
    "subclass",
    "parent_close",
    "parent_coarse",
    "parent_broad",
    "sibling",
    "safety_critical",
    "unrelated",
    "invalid",
)
CORRECT_CATEGORIES: frozenset[str] = frozenset({"exact", "subclass", "parent_close", "parent_coarse"})

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "exact": "the same disease, or a medically accepted synonym, alias or abbreviation "
    "(e.g. herpes zoster = shingles)",
    "subclass": "a clinically valid subtype of the reference, more specific and therapeutically "
    "consistent (e.g. atopic dermatitis for eczema)",
    "parent_close": "a closely related parent category with clear clinical value: treatment is "
    "the same or differs only by body site",
    "parent_coarse": "a coarser parent category that still points in the right diagnostic "
    "direction and is clinically actionable",
    "parent_broad": "a parent category so broad it gives no guidance for management "
    "(e.g. dermatitis, rash, skin cancer)",
    "sibling": "a different disease in the same family as the reference; a common but clinically "
    "misleading confusion",
    "safety_critical": "crosses a critical boundary: malignant or premalignant vs benign / "
    "non-neoplastic, or infectious vs non-infectious",
    "unrelated": "a real diagnosis with no meaningful clinical relation to the reference",
    "invalid": "empty, not a diagnosis, or nonsense",
}

_PARENT_CATEGORY = {"close": "parent_close", "coarse": "parent_coarse", "broad": "parent_broad"}

# Separators that always join alternatives ("psoriasis or eczema", "tinea vs eczema") and ones that
# also occur inside real names ("SJS/TEN", "hand, foot and mouth disease"): the second kind splits
# only a name the ontology does not know whole, and only into parts that are different conditions.
_ALTERNATIVE_RE = re.compile(r"\s+(?:or|and/or|vs\.?|versus)\s+", re.IGNORECASE)
_LIST_SPLIT_RE = re.compile(r"\s+(?:or|and/or|vs\.?|versus|and|with|plus)\s+|\s*[/;|,+&]\s*", re.IGNORECASE)

# Replies that are not a diagnosis at all. Compared after normalize_name.
_NON_ANSWERS = frozenset(
    {
        "unknown", "none", "n a", "na", "nil", "null", "not sure", "unsure", "unclear",
        "undetermined", "uncertain", "no diagnosis", "not applicable", "other", "others", "disease",
        "diagnosis", "the name of the disease", "name of the disease", "tbd", "idk", "i don t know",
        "cannot determine", "cannot be determined", "normal", "normal skin", "no disease",
    }
)
_MAX_NAME_CHARS = 200
_HAS_LETTER_RE = re.compile(r"[^\W\d_]")
_NON_WORD_RE = re.compile(r"[\W_]+")

T = TypeVar("T")


def normalize_name(name: str) -> str:
    """Case-, punctuation- and whitespace-insensitive key for a diagnosis name."""
    return " ".join(_NON_WORD_RE.sub(" ", name.casefold()).split())


class JudgeError(RuntimeError):
    """The judge cannot answer (e.g. names need the LLM and no gateway is configured)."""


@dataclass(frozen=True)
class Verdict:
    prediction: str
    category: str
    correct: bool
    rationale: str
    source: str  # "ontology" | "llm"


def _verdict(prediction: str, category: str, rationale: str, source: str) -> Verdict:
    return Verdict(prediction, category, category in CORRECT_CATEGORIES, rationale, source)


def _invalid_reason(prediction: str) -> str | None:
    """Why ``prediction`` is not a diagnosis name at all, or None when it may be one."""
    if not isinstance(prediction, str) or not prediction.strip():
        return "empty prediction"
    if not _HAS_LETTER_RE.search(prediction):
        return f"{prediction.strip()!r} contains no words"
    if len(prediction) > _MAX_NAME_CHARS:
        return f"a {len(prediction)}-character text is not a diagnosis name"
    if normalize_name(prediction) in _NON_ANSWERS:
        return f"{prediction.strip()!r} is not a diagnosis"
    return None


def _kind(cond: "Condition") -> str:
    if cond.infectious and cond.agent:
        return f"infectious ({cond.agent})"
    return "infectious" if cond.infectious else "non-infectious"


def _safety_crossing(ontology: "Ontology", ref: "Condition", pred: "Condition") -> str | None:
    """A sentence naming the crossed boundary, or None (sides computed over each subtree)."""
    ref_neo, pred_neo = ontology.neo_side(ref.id), ontology.neo_side(pred.id)
    if ref_neo is not None and pred_neo is not None and ref_neo != pred_neo:
        def neo(c: "Condition", side: str) -> str:
            if c.neoplastic is not None:
                return c.neoplastic.replace("_", "-")
            return "on the malignant / premalignant side" if side == "action" else "benign or non-neoplastic"

        return (f"crosses the malignancy boundary: {ref.name} is {neo(ref, ref_neo)}, "
                f"{pred.name} is {neo(pred, pred_neo)}")
    ref_inf, pred_inf = ontology.infectious_side(ref.id), ontology.infectious_side(pred.id)
    if ref_inf is not None and pred_inf is not None and ref_inf != pred_inf:
        return f"crosses the infection boundary: {ref.name} is {_kind(ref)}, {pred.name} is {_kind(pred)}"
    return None


def _unsafe_umbrella(ontology: "Ontology", ref: "Condition", pred: "Condition") -> str | None:
    """Why ancestor ``pred`` may not be credited for ``ref``: it spans a boundary ``ref`` is on the
    dangerous side of; None when it may."""
    spans_neo, spans_inf = ontology.spans(pred.id)
    if spans_neo and ontology.neo_side(ref.id) == "action":
        return (f"{pred.name} spans benign and malignant conditions, so it is never credited for "
                f"{ref.name}, which needs oncological action")
    if spans_inf and ontology.infectious_side(ref.id) is True:
        return (f"{pred.name} spans infectious and non-infectious conditions, so it is never credited "
                f"for {ref.name}, an infection")
    return None


# --------------------------------------------------------------------------------------------------
# Running coroutines from synchronous code


class _BackgroundLoop:
    """One event loop in a daemon thread per process, for the synchronous entry points.

    A fresh ``asyncio.run`` per call would tie the gateway's HTTP clients to short-lived loops;
    one long-lived loop lets them keep their connections, and works whether or not the caller's
    thread already runs a loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="skinflow-judge-loop", daemon=True)
                thread.start()
                self._loop = loop
            return self._loop


_BACKGROUND = _BackgroundLoop()


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code (any thread)."""
    return asyncio.run_coroutine_threadsafe(awaitable, _BACKGROUND.loop()).result()  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# The LLM prompt and reply validation

_SYSTEM_PROMPT = (
    "You are a board-certified dermatologist grading predicted diagnoses against a reference "
    "diagnosis, for clinical actionability and safety rather than wording.\n\n"
    "Categories (use exactly these names):\n"
    + "\n".join(f"- {name}: {text}" for name, text in CATEGORY_DESCRIPTIONS.items())
    + "\n\nRules:\n"
    "- Check safety_critical before sibling and unrelated. Premalignant lesions (e.g. actinic "
    "keratosis) count on the malignant side: calling one benign is safety_critical.\n"
    "- Misspellings and spelling variants of the reference are exact.\n"
    "- A parent category that also contains conditions on the other side of a safety boundary (e.g. "
    "'vascular tumour' for a sarcoma) is parent_broad.\n"
    "- A made-up or non-existent disease name is invalid.\n"
    "- Grade every prediction independently, each exactly once, and keep its text unchanged in "
    "\"name\".\n\n"
    'Reply with JSON only: {"verdicts": [{"name": "<prediction as given>", "category": "<category>", '
    '"rationale": "<one sentence>"}]}'
)


def _describe_reference(reference: str, cond: "Condition | None", ontology: "Ontology | None") -> str:
    if cond is None:
        return f'Reference diagnosis: "{reference}" (not found in the ontology; use your clinical knowledge).'
    lines = [f'Reference diagnosis: "{reference}"', f"Ontology entry: {cond.name} (id {cond.id})"]
    if cond.synonyms:
        lines.append("Synonyms: " + ", ".join(cond.synonyms[:10]))
    if ontology is not None:
        parents = ontology.parents(cond.id)
        if parents:
            lines.append(
                "Parents: " + ", ".join(p.name + (" [too broad]" if p.credit == "broad" else "") for p in parents)
            )
        children = ontology.children(cond.id)
        if children:
            lines.append("Subtypes: " + ", ".join(c.name for c in children[:15]))
    lines.append(f"Neoplastic: {cond.neoplastic or 'mixed/unspecified'}")
    infectious = "mixed/unspecified" if cond.infectious is None else ("yes" if cond.infectious else "no")
    if cond.infectious and cond.agent:
        infectious += f" ({cond.agent})"
    lines.append(f"Infectious: {infectious}")
    if cond.too_broad:
        lines.append("Note: the reference itself is an umbrella term.")
    return "\n".join(lines)


def _validate_reply(names: Sequence[str], payload: Any) -> dict[str, tuple[str, str]]:
    """Check a judge reply: one verdict per asked name, known categories only.

    Returns name -> (category, rationale). Raises ValueError with a message the repair prompt
    shows to the model.
    """
    entries = payload.get("verdicts") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise ValueError('expected {"verdicts": [...]} with one object per prediction')
    by_key = {normalize_name(n): n for n in names}
    found: dict[str, tuple[str, str]] = {}
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ValueError(f"verdict {position} is not an object")
        name, category = entry.get("name"), entry.get("category")
        if not isinstance(name, str):
            raise ValueError(f'verdict {position} has no string "name"')
        asked = name if name in names else by_key.get(normalize_name(name))
        if asked is None:
            raise ValueError(f"verdict {position} grades {name!r}, which was not asked")
        if asked in found:
            raise ValueError(f"{asked!r} is graded more than once")
        if category not in CATEGORIES:
            raise ValueError(f"verdict for {asked!r} has unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        rationale = entry.get("rationale", "")
        found[asked] = (category, rationale.strip() if isinstance(rationale, str) else str(rationale))
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"missing verdicts for: {', '.join(map(repr, missing))}")
    return found


# --------------------------------------------------------------------------------------------------


class ClinicalJudge:
    """Judge predictions against a reference; see the module docstring for the rules.

    ``min_confidence`` is handed to ``Ontology.resolve``: a fuzzy match below it counts as
    unresolved and goes to the LLM. Verdicts from the LLM are also remembered in memory per
    (reference, name, repeat), and concurrent requests for the same pair share one LLM call, so a
    training run judges each distinct pair once per process.
    """

    def __init__(
        self,
        ontology: "Ontology | None" = None,
        gateway: "LLMGateway | None" = None,
        *,
        role: str = "judge",
        min_confidence: float = 0.9,
        chunk_size: int = 16,
        memo_size: int = 200_000,
    ) -> None:
        if ontology is None:
            from evaluation.ontology import default_ontology

            ontology = default_ontology()
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self.ontology = ontology
        self.gateway = gateway
        self.role = role
        self.min_confidence = min_confidence
        self.chunk_size = chunk_size
        self._memo: OrderedDict[tuple[str, str, int], Verdict] = OrderedDict()
        self._memo_size = memo_size
        self._memo_lock = threading.Lock()
        self._inflight: dict[tuple[int, str, str, int], asyncio.Future] = {}
        # Names repeat heavily (F17k labels, top-K lists of one model): resolve each string once.
        self.resolve = lru_cache(maxsize=65_536)(self._resolve_uncached)  # type: ignore[method-assign]
        self._ancestors = lru_cache(maxsize=16_384)(ontology.ancestors)
        self._descendants = lru_cache(maxsize=16_384)(ontology.descendants)
        self._family = lru_cache(maxsize=16_384)(self._family_uncached)
        self._several = lru_cache(maxsize=65_536)(self._several_conditions)

    # -- ontology ---------------------------------------------------------------------------------

    def _resolve_uncached(self, name: str) -> "Condition | None":
        """The ontology condition for ``name`` (None when unknown or only a weak fuzzy match)."""
        if not isinstance(name, str) or not name.strip():
            return None
        return self.ontology.resolve(name, min_confidence=self.min_confidence)

    def _family_uncached(self, condition_id: str) -> dict[str, int]:
        """Ancestors that define a close family (rule 6), with their distance."""
        family = {}
        for ancestor_id, distance in self._ancestors(condition_id).items():
            ancestor = self.ontology.get(ancestor_id)
            # An umbrella root such as "skin disease" would make every pair siblings.
            if (distance == 1 and not (ancestor.too_broad and not ancestor.parents)) or (
                distance == 2 and not ancestor.too_broad
            ):
                family[ancestor_id] = distance
        return family

    def _several_conditions(self, prediction: str) -> str | None:
        """Why ``prediction`` names more than one condition, or None (called only for a name that
        does not resolve whole)."""
        parts = [p.strip(" .()[]") for p in _LIST_SPLIT_RE.split(prediction)]
        parts = [p for p in parts if p]
        if len(parts) < 2:
            return None
        resolved = [self.resolve(p) for p in parts]
        distinct = {c.id: c for c in resolved if c is not None}
        if len(distinct) >= 2:
            names = ", ".join(c.name for c in distinct.values())
            return f"the entry names {len(distinct)} conditions ({names}); one condition per entry is credited"
        if _ALTERNATIVE_RE.search(prediction):
            return "the entry offers alternatives; one condition per entry is credited"
        return None

    def judge_offline(self, reference: str, prediction: str) -> Verdict | None:
        """The ontology's verdict, or None when the ontology cannot decide (a name does not resolve)."""
        reason = _invalid_reason(prediction)
        if reason is not None:
            return _verdict(prediction if isinstance(prediction, str) else "", "invalid", reason, "ontology")
        pred = self.resolve(prediction)
        if pred is None:
            several = self._several(prediction)
            if several is not None:
                return _verdict(prediction, "invalid", several, "ontology")
            return None
        ref = self.resolve(reference)
        if ref is None:
            return None
        return self._relate(prediction, ref, pred)

    def _relate(self, prediction: str, ref: "Condition", pred: "Condition") -> Verdict:
        if pred.id == ref.id:
            return _verdict(prediction, "exact", f"same condition as the reference: {ref.name}", "ontology")
        crossing = _safety_crossing(self.ontology, ref, pred)
        if crossing is not None:
            return _verdict(prediction, "safety_critical", crossing, "ontology")
        if pred.id in self._descendants(ref.id):
            return _verdict(prediction, "subclass", f"{pred.name} is a subtype of {ref.name}", "ontology")
        distance = self._ancestors(ref.id).get(pred.id)
        if distance is not None:
            unsafe = _unsafe_umbrella(self.ontology, ref, pred)
            if unsafe is not None:
                return _verdict(prediction, "parent_broad", unsafe, "ontology")
            credit = pred.credit or "broad"
            why = {
                "close": f"{pred.name} is the same disease as {ref.name} at a coarser grain: treatment is consistent",
                "coarse": f"{pred.name} is a group of {ref.name} that sets the right work-up and treatment direction",
                "broad": f"{pred.name} is a parent of {ref.name} too broad to guide management",
            }[credit]
            return _verdict(prediction, _PARENT_CATEGORY[credit], why, "ontology")
        ref_family, pred_family = self._family(ref.id), self._family(pred.id)
        shared = ref_family.keys() & pred_family.keys()
        if shared:
            closest = min(shared, key=lambda a: (max(ref_family[a], pred_family[a]), a))
            family = self.ontology.get(closest).name
            return _verdict(prediction, "sibling", f"{pred.name} and {ref.name} are both in the family {family}", "ontology")
        return _verdict(prediction, "unrelated", f"{pred.name} is not related to {ref.name}", "ontology")

    # -- LLM --------------------------------------------------------------------------------------

    def _memo_get(self, key: tuple[str, str, int]) -> Verdict | None:
        with self._memo_lock:
            verdict = self._memo.get(key)
            if verdict is not None:
                self._memo.move_to_end(key)
            return verdict

    def _memo_put(self, key: tuple[str, str, int], verdict: Verdict) -> None:
        with self._memo_lock:
            self._memo[key] = verdict
            self._memo.move_to_end(key)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)

    def _messages(self, reference: str, names: Sequence[str]) -> list[dict]:
        ref = self.resolve(reference)
        user = (
            _describe_reference(reference, ref, self.ontology)
            + "\n\nGrade each of these predictions against the reference. "
            "Predictions (JSON array):\n"
            + json.dumps(list(names), ensure_ascii=False)
        )
        return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": user}]

    async def _ask_llm(self, reference: str, names: list[str], repeat: int) -> dict[str, Verdict]:
        """One judge call for ``names`` (plus at most one repair call)."""
        from webapp.llm import JSONExtractionError

        def validate(payload: Any) -> dict[str, tuple[str, str]]:
            return _validate_reply(names, payload)

        messages = self._messages(reference, names)
        salt = f"repeat={repeat}"
        try:
            graded, _ = await self.gateway.achat_json(self.role, messages, validate=validate, cache_salt=salt)
        except (JSONExtractionError, ValueError) as first:
            repair = messages + [
                {"role": "assistant", "content": getattr(first, "text", "") or ""},
                {
                    "role": "user",
                    "content": f"That reply could not be used: {first}. Reply again with JSON only, "
                    'in the form {"verdicts": [{"name": ..., "category": ..., "rationale": ...}]}, '
                    "one verdict for each prediction in the array above, using only these categories: "
                    + ", ".join(CATEGORIES)
                    + ".",
                },
            ]
            try:
                graded, _ = await self.gateway.achat_json(self.role, repair, validate=validate, cache_salt=salt)
            except (JSONExtractionError, ValueError) as second:
                why = f"the judge reply was unusable, also after one repair request: {second}"
                return {n: _verdict(n, "invalid", why, "llm") for n in names}
        return {n: _verdict(n, category, rationale, "llm") for n, (category, rationale) in graded.items()}

    async def _ask_and_publish(
        self, reference: str, names: list[str], repeat: int, futures: dict[str, asyncio.Future]
    ) -> None:
        loop_id = id(asyncio.get_running_loop())
        ref_key = normalize_name(reference)
        try:
            verdicts = await self._ask_llm(reference, names, repeat)
        except BaseException as exc:
            for name in names:
                fut = futures[name]
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved: every waiter re-raises it anyway
                self._inflight.pop((loop_id, ref_key, normalize_name(name), repeat), None)
            raise
        for name in names:
            verdict = verdicts[name]
            key = (ref_key, normalize_name(name), repeat)
            # An unusable reply is not remembered: a later run may get a usable one.
            if not (verdict.category == "invalid" and verdict.rationale.startswith("the judge reply was unusable")):
                self._memo_put(key, verdict)
            futures[name].set_result(verdict)
            self._inflight.pop((loop_id, *key), None)

    async def ajudge_names(self, reference: str, names: Sequence[str], *, repeat: int = 0) -> dict[str, Verdict]:
        """Verdicts for distinct names against one reference: ontology first, then one LLM call
        (per chunk of ``chunk_size`` names) for the names it cannot decide."""
        loop_id = id(asyncio.get_running_loop())
        ref_key = normalize_name(reference)
        result: dict[str, Verdict] = {}
        waiting: dict[str, asyncio.Future] = {}
        to_ask: list[str] = []
        asked_keys: set[str] = set()
        for name in names:
            if name in result or name in waiting:
                continue
            verdict = self.judge_offline(reference, name)
            if verdict is not None:
                result[name] = verdict
                continue
            name_key = normalize_name(name)
            remembered = self._memo_get((ref_key, name_key, repeat))
            if remembered is not None:
                result[name] = replace(remembered, prediction=name)
                continue
            inflight = self._inflight.get((loop_id, ref_key, name_key, repeat))
            if inflight is not None:
                waiting[name] = inflight
                continue
            if name_key in asked_keys:  # "Psoriasis " and "psoriasis": one question
                waiting[name] = next(f for n, f in waiting.items() if normalize_name(n) == name_key)
                continue
            fut = asyncio.get_running_loop().create_future()
            self._inflight[(loop_id, ref_key, name_key, repeat)] = fut
            waiting[name] = fut
            to_ask.append(name)
            asked_keys.add(name_key)
        if to_ask:
            if self.gateway is None:
                error = JudgeError(
                    f"{len(to_ask)} prediction(s) for {reference!r} are not in the ontology and no LLM gateway "
                    f"is configured: {', '.join(map(repr, to_ask[:5]))}. Configure the 'judge' role (reward "
                    "workers: SKINFLOW_LLM_BASE_URL or SKINFLOW_JUDGE_BASE_URL), or judge offline."
                )
                for name in to_ask:
                    fut = self._inflight.pop((loop_id, ref_key, normalize_name(name), repeat))
                    fut.set_exception(error)
                    fut.exception()  # mark retrieved; concurrent waiters re-raise it
                raise error
            chunks = [to_ask[i : i + self.chunk_size] for i in range(0, len(to_ask), self.chunk_size)]
            own = {n: waiting[n] for n in to_ask}
            await asyncio.gather(*(self._ask_and_publish(reference, chunk, repeat, own) for chunk in chunks))
        for name, fut in waiting.items():
            result[name] = replace(await fut, prediction=name)
        return {name: result[name] for name in dict.fromkeys(names)}

    async def ajudge_list(self, reference: str, predictions: Sequence[str], *, repeat: int = 0) -> list[Verdict]:
        """One verdict per prediction, in order (a repeated name gets the same verdict)."""
        verdicts = await self.ajudge_names(reference, predictions, repeat=repeat)
        return [verdicts[p] for p in predictions]

    def judge_list(self, reference: str, predictions: Sequence[str], *, repeat: int = 0) -> list[Verdict]:
        return run_sync(self.ajudge_list(reference, predictions, repeat=repeat))

    def judge_names(self, reference: str, names: Sequence[str], *, repeat: int = 0) -> dict[str, Verdict]:
        return run_sync(self.ajudge_names(reference, names, repeat=repeat))
