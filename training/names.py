"""Names for synthetic requests: made to be copied, never worth memorising.

A user names *their* steps ("strip HTML", "주문 기록", "Shopify orders"). A model trained on a few
hundred fixed names learns those names and writes them in place of the user's. Here most names are
drawn fresh: uniform random letters (any consonant cluster, capitals, digits), pronounceable
syllables, random Hangul syllables, and a share of real ML words, so that only copying from the
request pays. The copy probe (shared/probes) found that copying generalises to real text only
when training names span its letter patterns, which is why uniform letters are half of the Latin
words.

Kinds (data, database, ... model) decide a flowchart node's shape and fill. A request rarely says
them, so they follow from the name by `kind_of`: a keyword in the name, else the node's place.
"""

from __future__ import annotations

import random
import string

CONSONANTS = "bcdfghjklmnprstvwz"
VOWELS = "aeiou"
# Real words that users put in names; also the keywords that give a node its kind.
KIND_WORDS = {
    "database": (
        "DB",
        "database",
        "table",
        "store",
        "warehouse",
        "lake",
        "index",
        "bucket",
        "DB",
        "테이블",
        "데이터베이스",
        "저장소",
        "DB",
    ),
    "picture": ("images", "photos", "scans", "frames", "pictures", "이미지", "사진"),
    "chart": ("chart", "report", "plot", "dashboard", "curve", "metrics", "차트", "보고서", "대시보드"),
    "model": (
        "model",
        "classifier",
        "network",
        "LSTM",
        "BERT",
        "GAN",
        "regressor",
        "encoder",
        "decoder",
        "모델",
        "분류기",
        "인코더",
        "디코더",
    ),
    "data": (
        "data",
        "logs",
        "records",
        "samples",
        "CSV",
        "text",
        "features",
        "labels",
        "events",
        "dataset",
        "데이터",
        "로그",
        "기록",
        "텍스트",
    ),
}
ML_WORDS = (
    "train",
    "evaluate",
    "clean",
    "filter",
    "split",
    "merge",
    "embed",
    "retrieve",
    "rank",
    "score",
    "serve",
    "monitor",
    "deploy",
    "tokenize",
    "normalize",
    "augment",
    "parse",
    "join",
    "sample",
    "attention",
    "embedding",
    "pooling",
    "dropout",
    "softmax",
    "residual",
    "query",
    "prompt",
    "vector",
    "stream",
    "batch",
    "feature",
    "label",
    "latent",
    "noise",
    "generator",
    "discriminator",
    "retriever",
    "reranker",
    "answer",
    "upload",
    "export",
    "ingest",
    "transform",
    "load",
    "extract",
    "cache",
)
KO_WORDS = (
    "전처리",
    "학습",
    "평가",
    "배포",
    "수집",
    "정제",
    "추출",
    "변환",
    "적재",
    "검색",
    "생성",
    "분류",
    "예측",
    "검증",
    "모니터링",
    "임베딩",
    "토큰화",
    "정규화",
    "증강",
    "요약",
    "번역",
    "인식",
    "결과",
    "입력",
    "출력",
    "특징",
    "쿼리",
    "답변",
    "잡음",
    "판별기",
    "생성기",
)


def _latin_word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:  # uniform letters: any cluster the language allows and many it does not
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10)))
    elif roll < 0.8:  # pronounceable
        word = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 4)))
        word += rng.choice(["", "", "n", "r", "s", "t", "x"])
    elif roll < 0.9:
        word = rng.choice(ML_WORDS)
    else:  # with digits and marks: "v2", "3D", "GPT-4", "top-k"
        word = rng.choice(
            [
                f"{rng.choice(string.ascii_uppercase)}{rng.randint(1, 9)}",
                f"{rng.randint(1, 9)}D",
                f"v{rng.randint(1, 12)}",
                "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 5)))
                + "-"
                + rng.choice(["k", "2", "v2", "x", "in", "out"]),
            ]
        )
    style = rng.random()
    if style < 0.15:
        return word.upper()
    if style < 0.45:
        return word[:1].upper() + word[1:]
    return word


# Syllables common in Korean nouns; half the syllables of a made-up word come from here, half from all 11,172.
COMMON_SYLLABLES = (
    "가각간강개거건검게결경계고공과관광교구국군권규그극근금기길김나남내네노논누뉴는능니다단달"
    "담당대데도독동두드득등디라락란람랑래러럼레력련렬령로록론료루류률르리린림마만말망매머메면명"
    "모목무문물미민바박반발방배백버번범법베변별병보복본부분불브비빅사산상새색생서석선설성세소속손"
    "송수순술스승시식신실심아악안알압앙애야약양어억언업에여역연열영예오온완외요용우운원월위유육윤"
    "은음응의이인일임입자작잔장재저적전절점정제조족존종주준중즈증지직진질집차착찰참창채처천철청체"
    "초총최추축출충취측치칙친카코크키타탐태터테토통투트특티파판패퍼페편평포표품프피필하학한할함합"
    "항해행향허험혁현형호혼화확환활황회효후휴흐흥희"
)


def hangul_word(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(KO_WORDS)
    return "".join(
        rng.choice(COMMON_SYLLABLES) if rng.random() < 0.5 else chr(rng.randint(0xAC00, 0xD7A3))
        for _ in range(rng.randint(1, 4))
    )


def random_name(rng: random.Random, korean: bool = False) -> str:
    """A 1-3 word name; Korean names are mostly Hangul with an English word now and then."""
    words = []
    for _ in range(rng.choice([1, 1, 2, 2, 2, 3])):
        words.append(hangul_word(rng) if korean and rng.random() < 0.8 else _latin_word(rng))
    if rng.random() < 0.3:  # a name that says what it is ("orders table", "로그 데이터")
        hangul = korean and rng.random() < 0.7
        keywords = [w for w in KIND_WORDS[rng.choice(list(KIND_WORDS))] if _is_hangul(w) == hangul]
        keyword = rng.choice(keywords)
        words[-1:] = [words[-1], keyword] if len(words) < 3 else [keyword]
    return " ".join(words)


def _is_hangul(word: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in word)


def kind_of(name: str, is_source: bool) -> str:
    """A node's kind from its name's last keyword, else data for a source and process otherwise."""
    words = name.split()
    for word in reversed(words):
        for kind, keywords in KIND_WORDS.items():
            if word in keywords or word.lower() in keywords:
                return kind
    return "data" if is_source else "process"
