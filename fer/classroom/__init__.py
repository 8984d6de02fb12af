"""A live class: rooms and keys, each student's stream, the fair analysis queue, the stored
samples, and what the teacher's dashboard and the session report make of them.
"""
