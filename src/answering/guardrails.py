"""Guardrails around the answer: text planted in the book that speaks to the assistant, requests to
reveal the instructions or to drop the rules, off-topic requests, and links that are not the book's."""

from __future__ import annotations

import re

from src.kit.linear import LinearPattern

# The three long patterns are RE2 (linear in the text): "repeat the ... prompt" and "translate ... into"
# read any length between two phrases, which `re` would retry from every "repeat the" and "translate".
# A sentence of book text that addresses the assistant's own output or rules (indirect prompt injection).
_PLANTED = LinearPattern(
    "|".join(
        (
            r"\byour (answer|response|reply|output|message)('s)?\b",
            r"\b(reply|respond|answer) (using|in|with)\b",
            r"\bcan you (reply|respond|answer)\b",
            r"\bignore (all |any |the )?(previous|prior|above|earlier|preceding) (instructions|rules|directions)",
            r"\b(system prompt|as an ai( language model)?|the assistant must|you must now|new instructions)\b",
            # A request for a service that opens a sentence (BIPIA's planted tasks): a book explains, it does
            # not ask for these.
            r"^\W*(please\s+)?(summari[sz]e|provide|recommend|suggest|translate|show me|help me|tell me|give me|find me"
            r"|(write|draft|compose)( me)? an? (\w+ )?"
            r"(script|program|poem|story|essay|email|letter|review|tweet|speech|introduction)"
            r"|(analy[sz]e|determine|classify) the (sentiment|mood|tone|trend))\b",
        )
    ),
    ignore_case=True,
)
# A message that tries to extract the instructions or to switch the rules off (garak, DAN, PyRIT).
_MANIPULATION = LinearPattern(
    "|".join(
        (
            r"\b(system[ _]?prompt"
            r"|system message"
            r"|system (instructions|configuration)"
            r"|initiali[sz]ation string"
            r"|initial (instructions|prompt)"
            r"|your (\w+ )?(instructions|rules|prompt|guidelines|configuration|programming)"
            r"|(were you|you were|i was) (told|instructed|given)"
            r"|not supposed to (tell|say|reveal)"
            r"|(the )?above text"
            r"|(admin|administrator) override"
            r"|repeat (this|the|everything|all)\b[^.?!]*(conversation|prompt|above)"
            r"|instructions (you were|you've been|you have been) given"
            r"|(ignore|disregard|forget) (all |any |every |your |the )*"
            r"((previous|prior|above|preceding|earlier) )?(instructions|rules|prompt|guidelines|restrictions)"
            r"|(the )?(text|everything|words) above"
            r"|developer mode"
            r"|maintenance mode"
            r"|jailbr(eak|oken)"
            r"|do anything now"
            r"|stay in character"
            r"|(pretend|act) (to be|as if you|like you)"
            r"|you are (now|going to be|about to)\b"
            r"|from now on,? you"
            r"|no (restrictions|filters|censorship))",
            r"(?-i:\b(DAN|STAN|DUDE)\b)",
        )
    ),
    ignore_case=True,
)
# A request for something other than an explanation from the book.
_TASK = re.compile(
    r"^\s*(please\s+|can you\s+|could you\s+)?(write|compose|generate|create|draft|sing|tell me a (joke|story|poem)|"
    r"translate|recommend|book (me|a)|order|buy|play)\b",
    re.I,
)
# Creative writing and chit-chat tasks: never a question about the book, whatever words they share with it.
_CREATIVE = re.compile(
    r"^\s*(please\s+|can you\s+|could you\s+)?"
    r"((write|compose|generate|create|draft|make up)\s+(me\s+)?(an?\s+|some\s+)?"
    r"(poem|story|song|joke|essay|limerick|haiku|rap|letter|email|tweet|speech|novel|script for a (movie|play))s?"
    r"|tell me (an?\s+)?(joke|story|poem|riddle)"
    r"|sing\b)",
    re.I,
)
# Requests outside a study assistant's job, whatever book words they carry: errands, the assistant's
# own opinions, live facts, role play and predictions.
_OFF_TASK = LinearPattern(
    "|".join(
        (
            r"\b(book|order|buy|reserve) me\b",
            r"\b(email|text|message|call|phone) (my|the|our) \w+",
            r"\bsend (an? )?(email|text message)\b",
            r"\bsend (a )?message to (my|the) (professor|teacher|mom|dad|friend|boss)\b",
            r"\bremind me\b",
            r"\bset (a|an|me a) (timer|alarm|reminder)\b",
            r"\bschedule (a|an|my)\b",
            r"\btranslate\b.+\binto\b",
            r"\bwrite (me )?(my|a) (cover letter|resume|cv|homework|essay|assignment)\b",
            r"\b(what'?s|what is|which is) your (favou?rite|opinion|view)\b",
            r"\bdo you (think|believe|feel|like|prefer)\b",
            r"\byour (personal )?opinion\b",
            r"\b(right now|at the moment|today'?s|currently open|open now)\b",
            r"\b(current|latest|live) (price|weather|score|news)\b",
            r"\b(bitcoin|stock) price\b",
            r"\bweather (in|today|tomorrow)\b",
            r"\bpretend (you'?re|you are|to be)\b",
            r"\bact as an?\b",
            r"\banswer like an?\b",
            r"\brole-?play\b",
            r"\b(who'?s|who is|who will) (going to )?win\b",
            r"\bwill win the\b",
        )
    ),
    ignore_case=True,
)
_URL = re.compile(r"(?:https?://|www\.)[^\s)\]>\"']+", re.I)

REDIRECT = (
    "I can only help with questions about this textbook, and I keep my instructions to myself. "
    "Ask me about a topic from the book and I'll answer with the sections it comes from."
)
OFF_TOPIC = "That is outside what this textbook covers, so I can't help with it here. Ask me about a topic from the book instead."


def is_planted_instruction(sentence: str) -> bool:
    return bool(_PLANTED.search(sentence))


def is_manipulation(message: str) -> bool:
    return bool(_MANIPULATION.search(message))


def is_task_request(message: str) -> bool:
    return bool(_TASK.match(message))


def is_creative_request(message: str) -> bool:
    return bool(_CREATIVE.match(message))


def is_off_task(message: str) -> bool:
    """A creative-writing request or another request outside a study assistant's job."""
    return bool(_CREATIVE.match(message) or _OFF_TASK.search(message))


def _is_foreign(url: str, allowed: set[str], prefixes: set[str]) -> bool:
    return url.rstrip(".,;") not in allowed and url.split("#", 1)[0].rstrip(".,;") not in prefixes


def foreign_links(text: str, allowed: set[str]) -> list[str]:
    """Links in `text` that do not point into the book (`allowed`: the cited sections' URLs)."""
    prefixes = {u.split("#", 1)[0] for u in allowed if u}
    return [u for u in _URL.findall(text) if _is_foreign(u, allowed, prefixes)]


def strip_foreign_links(text: str, allowed: set[str]) -> str:
    # One pass over the text: removing each link with its own `replace` cost links x length.
    prefixes = {u.split("#", 1)[0] for u in allowed if u}
    return _URL.sub(lambda m: "" if _is_foreign(m.group(0), allowed, prefixes) else m.group(0), text)
