"""The consent text a student reads before their camera starts, and its version.

The store records, with each student, the version they agreed to and when
(:meth:`fer.classroom.store.base.Store.join`), so a changed text gets a new version and
what each student was told stays provable. Change the text, change the version.
"""

from __future__ import annotations

from fer.config import AppConfig

#: The date this text was last changed (with a count when it changed twice that day); stored with
#: every student's consent.
CONSENT_VERSION = "2026-12-03.2"


def consent_markdown(config: AppConfig) -> str:
    """What is analyzed, stored, shown, kept for how long, by whom, and how to delete it."""
    days = f"{config.retention_days:g}"
    return (
        "#### Before your camera starts\n"
        "- **What is analyzed:** while your camera is on, the server looks for your face a few times a "
        "second and estimates your facial expression as seven numbers (angry, disgust, fear, happy, sad, "
        "surprise, neutral).\n"
        "- **What is stored:** only those numbers, about once a second, with your display name and the time, "
        "and that you agreed to this text (its version and the time). "
        "**No image or video of you is stored** or recorded anywhere; frames are analyzed in memory and dropped.\n"
        "- **What the teacher sees:** the class mood as charts, and a tile with your display name, whether "
        "your face is seen (present or absent), whether you face the screen or are turned away (from your head's "
        "pose), your current expression with its confidence and a short trend. "
        "The teacher never sees your video. The session report shows no class mood of moments when fewer than "
        f"{config.report_min_present} students were present.\n"
        f"- **How long, by whom:** the numbers are kept by the school or person running this ClassMood server for "
        f"{days} days after the lecture started, then erased automatically. The teacher can erase the lecture "
        "sooner. Nothing is sent to anyone else (no usage statistics, no third party).\n"
        "- **Deleting your numbers:** press **Leave and delete my numbers** below at any time during the lecture: "
        "your name and every number of yours are erased at once.\n"
        "- **Limits:** the estimate is often wrong and says nothing about your attention or learning; it must "
        "not be used to grade you.\n"
        "- **How to leave:** press **Leave the class** below, or **Turn my camera off**, or close the tab. Your camera turns off."
    )
