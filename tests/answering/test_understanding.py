"""How a question is read before anything is searched: what it asks of a selection, whether it is a
definition question, which names in it the book must mention, how a follow-up becomes standalone, and
how a table row becomes a quotable sentence. Pure functions, checked on hand-written inputs."""

from __future__ import annotations

import pytest

from src.answering.coverage import specific_terms, unmentioned, weighted_coverage
from src.answering.definitions import defines, definition_subject
from src.answering.followup import PastTurn, resolve
from src.answering.guardrails import is_off_task
from src.answering.highlight import Intent, answering_sentences, examples_in, intent_of, split_sentences
from src.answering.question import Question
from src.kit.text import sentences_of, terms


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Explain this", Intent("explain")),
        ("can you explain this in simpler words?", Intent("explain")),
        ("explain this like im 5", Intent("explain")),
        ("What does this mean?", Intent("meaning")),
        ("what does 'negative transfer' mean here?", Intent("meaning", "negative transfer")),
        ("Summarize this in one sentence", Intent("summarize")),
        ("tl;dr?", Intent("summarize")),
        ("example of this?", Intent("example")),
        ("why?", Intent("why")),
        ("why must the ZMP stay within the support polygon?", None),  # a question with a subject of its own
        ("how tall is Atlas?", None),
    ],
)
def test_what_a_question_asks_of_a_selection(question: str, intent: Intent | None) -> None:
    assert intent_of(question) == intent


def test_the_sentences_that_answer_an_intent() -> None:
    passage = (
        "A digital twin mirrors a deployed robot. It detects gait anomalies (e.g., motor overheating) early. "
        "Engineers then plan maintenance. Impedance control is not covered here."
    )
    sentences = split_sentences(passage)
    assert len(sentences) == 4
    assert answering_sentences(Intent("example"), sentences) == [1]
    assert answering_sentences(Intent("meaning", "impedance control"), sentences) == [3]
    assert answering_sentences(Intent("summarize"), sentences) == [0, 1, 2, 3]
    assert (
        answering_sentences(Intent("example"), split_sentences("Small nodes are easier to test than monoliths.")) == []
    )


def test_examples_under_an_examples_label_are_the_list_items() -> None:
    content = "A node does one job.\n\n**Examples**:\n- `camera_driver`: publishes images\n- `planner`: plans paths\n\nMore text follows."
    assert examples_in(content) == ["camera_driver: publishes images", "planner: plans paths"]


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("What is embodied AI?", "embodied AI"),
        ("what's a digital twin in robotics?", "digital twin"),
        ("define impedance control", "impedance control"),
        ("What does ZMP stand for?", "ZMP"),
        ("what is a kalman filter used for in robots?", "kalman filter"),
        ("what's the difference between & and &mut", None),
        ("How does a PID controller work?", None),
        ("Can you explain layer normalization?", "layer normalization"),
        ("Explain the perception-action loop to me.", "perception-action loop"),
        ("explain this", None),
        ("can you explain it in simpler terms?", None),
        ("explain how a PID controller works", None),
        # The field a term is asked about in is not part of it, whatever the field.
        ("What is a monad in Haskell?", "monad"),
        ("what is backpropagation in deep neural networks", "backpropagation"),
        ("What are lifetimes in the Rust language?", "lifetimes"),
    ],
)
def test_definition_questions_and_their_subject(question: str, subject: str | None) -> None:
    assert definition_subject(question) == subject


def test_defining_sentences() -> None:
    assert defines(
        "Physical AI, also known as embodied AI, refers to systems with a physical form.", terms("embodied AI")
    )
    assert defines("A digital twin is a virtual replica of a physical robot.", terms("digital twin"))
    assert defines("Zero Moment Point (ZMP): the point where the moments sum to zero.", terms("Zero Moment Point"))
    # Mentioning the subject after a colon in a table row is not defining it.
    assert not defines(
        "Connection: Traditional Simulation: Offline; Digital Twin: Bidirectional sync.", terms("digital twin")
    )
    assert not defines("Engineers often build a digital twin before the robot.", terms("digital twin"))


def test_specific_names_in_a_question() -> None:
    names = [s.text for s in specific_terms("how much does a Unitree G1 humanoid cost?")]
    assert names == ["Unitree G1"]
    assert [s.text for s in specific_terms("how do i install ROS 2 Jazzy on ubuntu 24.04")] == ["ROS 2 Jazzy"]
    assert "par_iter" in [s.text for s in specific_terms("how do i parallelize a loop with rayon's par_iter?")]
    assert [s.text for s in specific_terms("How do I build a desktop GUI with egui?")] == ["GUI", "egui"]
    # Code in backticks is the student's own (a quiz's function names), not a name to look up.
    assert specific_terms("Which signature fits `find_contains`?") == []


def test_a_name_is_unmentioned_when_the_book_holds_none_of_a_word_or_never_the_phrase() -> None:
    counts = {"Unitree": 0, "G1": 3, "Figure": 40, "02": 12, "ROS": 90, "2": 200}
    phrases = {"Figure 02": False, "ROS 2": True}
    found = unmentioned(
        specific_terms("is the Unitree G1, Figure 02 or ROS 2 best?"),
        lambda w: counts.get(w, 200),
        lambda p: phrases.get(p, True),
    )
    assert found == ["Unitree G1", "Figure 02"]


def test_weighted_coverage_counts_rare_words_more() -> None:
    weights = {"unitree": 10.0, "cost": 4.0}
    assert weighted_coverage(["unitree", "cost"], {"cost"}, weights.__getitem__) == pytest.approx(4 / 14)
    assert weighted_coverage(["unitree", "cost"], {"unitree"}, weights.__getitem__) == pytest.approx(10 / 14)


def test_follow_ups_are_made_standalone() -> None:
    zmp = [
        PastTurn(
            "What is the Zero Moment Point in humanoid robots?",
            ("book/humanoid.md",),
            (("book/humanoid.md", "The Balance Problem"),),
        )
    ]
    resolved = resolve(Question.parse("Why does it matter for walking?"), zmp)
    assert resolved.follow_up and resolved.question == "Why does Zero Moment Point matter for walking?"
    assert resolved.prefer == ("book/humanoid.md",) and resolved.sections == (
        ("book/humanoid.md", "The Balance Problem"),
    )
    qos = [PastTurn("What QoS reliability should I use for lidar scans in ROS 2?")]
    assert (
        resolve(Question.parse("and for velocity commands?"), qos).question
        == "What QoS reliability should I use for velocity commands in ROS 2?"
    )
    carried = resolve(
        Question.parse("how do i pick the gains for it"), [PastTurn("How does a PID controller work?")]
    ).question
    assert carried == "how do i pick the gains for a PID controller"
    # The field the topic was asked about in is not carried as part of it, whatever the field.
    haskell = [PastTurn("What is a monad in Haskell?")]
    assert resolve(Question.parse("why does it matter?"), haskell).question == "why does monad matter?"
    # A question that stands on its own is left alone, so a change of topic is not held to the old one.
    assert resolve(Question.parse("What is a string slice in Rust?"), zmp).follow_up is False
    # The topic is the student's text, backslashes and all (not a template: "\p" was a regex error, a 500).
    assert (
        resolve(Question.parse("why does it matter?"), [PastTurn(r"What is C:\path?")]).question
        == r"why does C:\path matter?"
    )
    assert resolve(Question.parse("what are its parts?"), [PastTurn(r"What is lib\1x?")]).question.startswith(
        r"what are lib\1x's parts?"
    )


def test_requests_outside_a_study_assistants_job() -> None:
    for message in (
        "book me a flight to tokyo",
        "email my professor that I finished",
        "what's your favourite robot?",
        "set a timer for 25 min",
    ):
        assert is_off_task(message), message
    for message in (
        "What does the book say about booking a robot's time on the cluster?",
        "How do I send a message between threads?",
    ):
        assert not is_off_task(message), message


def test_table_rows_and_code_comments_are_sentences() -> None:
    content = (
        "| Aspect | Traditional AI | Physical AI |\n|---|---|---|\n| **Time** | Discrete steps | Continuous, real-time |\n\n"
        "```python\n# Integral term (accumulate error over time)\nx = 1\n```"
    )
    assert sentences_of(content) == [
        "Time: Traditional AI: Discrete steps; Physical AI: Continuous, real-time.",
        "Integral term (accumulate error over time).",
    ]
