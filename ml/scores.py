"""The names of a candidate's scores, defined once.

Scorers write them (ml/pipeline.py, ml/scoring/ranking.py), ranking reads them, storage keeps the
stored ones as columns of the candidates table, and the bot shows some under each diagram. A
`StrEnum`, so each name is also the plain string used as a dict key, a column and in JSON.
"""

from __future__ import annotations

from enum import StrEnum


class Score(StrEnum):
    READABILITY = "readability"  # analytic readability, 0-5 (ml/readability.py)
    CNN = "cnn_score"  # the learned readability CNN, 0-5
    USER = "user_score"  # the user's predicted rating, 0-5 (ml/scoring/personal.py)
    FINAL = "final_score"  # what ranks candidates of equal grounding and agreement
    GROUNDING = "grounding"  # how well the drawn sizes and names match the request, 0-1
    AGREEMENT = "agreement"  # share of the other samples that draw the same structure, 0-1


STORED = (Score.READABILITY, Score.CNN, Score.USER, Score.FINAL)  # columns of storage's candidates table
