"""(request, plan) pairs for the planner: the project's synthetic mix plus phrasings it lacks.

The planner (ml/planner.py) reads a request into its plan; the drawer draws the plan. Its answer:

    L 784 128 10                                        a dense network's layer sizes
    C Input 28x28x1 | Conv 3x3, 32 | BatchNorm | ...    a CNN's layers (normalised, or the request's words)
    F invoice PDFs :data | OCR :process || 1>2          a flowchart's names (verbatim), kinds and edges

Half the data is `training.synthetic`'s open mix. The other half is written here, for the gap that
probe 2 (shared/probes) measured between templates and people: number words and counts ("three
hidden layers of 4", "층마다 노드 4개씩", "30 features"), CNN layers the templates never name
(BatchNorm, ReLU, Dropout 0.5, Flatten, global average pooling), connectives and relative clauses
("produces", "which feeds", "both feed", "and then"), Korean particles and endings stripped from
names (한 뒤, 하고, 를 거쳐, 으로, 에서), names from real words as well as random strings, and
case and typo noise. A typo in a name stays in the plan: names are copied as the user typed them.

Nothing here is drawn from the frozen evaluation sets (training/heldout).

    python -m training.plan_data --count 5     # print a few pairs
"""

from __future__ import annotations

import argparse
import random

from ml.grounding import NUMBER_WORDS
from training.flow_phrasing import _clauses, describe, particle, random_graph
from training.layouts import Step
from training.names import random_name
from training.synthetic import generate

FAMILIES = ("dense", "flowchart", "cnn", "flowchart")


# ---------------------------------------------------------------- the plan, as text


def plan_text(family: str, spec: dict) -> str:
    """A spec as the planner writes it (the format shared/probes/plan_probe.py trained on)."""
    if family == "dense":
        return "L " + " ".join(map(str, spec["layers"]))
    if family == "cnn":
        return "C " + " | ".join(spec["labels"])
    names = [n for n, _ in spec["nodes"]]
    index = {n: i + 1 for i, n in enumerate(names)}
    nodes = " | ".join(f"{n} :{k}" for n, k in spec["nodes"])
    edges = " ".join(f"{index[a]}>{index[b]}" for a, b in spec["edges"])
    return f"F {nodes} || {edges}"


# ---------------------------------------------------------------- words

EN_NOUNS = (
    "orders customers invoices receipts tickets emails messages reviews comments posts tweets photos videos "
    "audio clips transcripts sensor readings clicks sessions events alerts logs metrics traces requests "
    "responses users accounts payments refunds products prices inventory shipments deliveries routes maps "
    "weather forecasts contracts documents pages articles reports summaries translations captions labels "
    "scores rankings recommendations playlists songs lyrics patients scans x-rays lab results prescriptions "
    "claims policies loans transactions fraud flags leads campaigns surveys answers questions queries prompts "
    "chunks embeddings vectors features targets predictions errors outliers anomalies duplicates backups "
    "snapshots checkpoints weights gradients batches shards partitions tables rows columns schemas files "
    "folders buckets queues topics streams jobs tasks workers servers nodes clusters containers images frames "
    "masks boxes keypoints poses faces plates signatures receipts menus recipes bookings flights hotels "
    "students grades lectures slides notes diaries calendars meetings calls chats votes polls bids auctions"
).split()
EN_VERBS = (
    "load clean filter sort merge join split shuffle sample resize crop rotate blur denoise normalize "
    "standardize tokenize translate summarize classify cluster rank score label annotate review approve "
    "reject archive compress encrypt decrypt upload download sync index search retrieve rerank cache "
    "deduplicate validate check parse extract transform aggregate count group bucket detect segment track "
    "predict forecast train fine-tune evaluate test deploy serve monitor log alert notify email export "
    "import publish schedule batch stream route dispatch assign escalate transcribe caption embed chunk "
    "compare match verify scan print sign send"
).split()
EN_TOOLS = (
    "Kafka Spark Airflow Postgres MySQL Redis S3 BigQuery Snowflake Tableau Looker Grafana Slack Jira "
    "GitHub Notion Excel Sheets Pandas PyTorch TensorFlow XGBoost BERT GPT-4 Whisper CLIP ResNet YOLO "
    "LightGBM Elasticsearch FAISS Pinecone Chroma Docker Kubernetes Lambda Flink dbt MongoDB SQLite "
    "Prometheus Sentry Stripe Shopify Zendesk Salesforce HubSpot Twilio OpenAI Claude Llama Mistral"
).split()
KO_NOUNS = (
    "주문 고객 영수증 송장 문의 메일 메시지 리뷰 댓글 게시글 사진 영상 음성 녹취록 센서 값 클릭 세션 "
    "이벤트 경보 로그 지표 요청 응답 사용자 계정 결제 환불 상품 가격 재고 배송 경로 지도 날씨 예보 계약서 "
    "문서 페이지 기사 보고서 요약본 번역문 자막 라벨 점수 순위 추천 목록 노래 가사 환자 진료 기록 "
    "처방전 보험 청구 대출 거래 내역 이상 거래 고객 문의 설문 응답 질문 답변 프롬프트 문단 벡터 특징 "
    "예측값 오류 이상치 중복 백업 스냅샷 체크포인트 가중치 배치 테이블 파일 폴더 버킷 큐 작업 서버 "
    "컨테이너 이미지 프레임 마스크 얼굴 번호판 서명 메뉴 예약 항공권 학생 성적 강의 슬라이드 회의록 "
    "통화 채팅 투표 입찰 매출 원가 비용 예산 직원 근태 출근 기록 민원 신고 택배 장바구니 쿠폰 포인트"
).split()
KO_VERBS = (
    "수집 정제 필터링 정렬 병합 분할 샘플링 리사이즈 자르기 회전 노이즈 제거 정규화 표준화 토큰화 번역 "
    "요약 분류 군집화 순위 매기기 채점 라벨링 검토 승인 반려 보관 압축 암호화 업로드 다운로드 동기화 "
    "색인 검색 재정렬 캐싱 중복 제거 검증 파싱 추출 변환 집계 그룹화 탐지 분할 추적 예측 학습 미세 조정 "
    "평가 테스트 배포 서빙 모니터링 로깅 알림 발송 내보내기 가져오기 게시 예약 스트리밍 라우팅 배정 "
    "전사 임베딩 청킹 비교 매칭 확인 스캔 인쇄 서명 전송 적재 저장 시각화"
).split()


# Per language: verbs, nouns, tools' companions, and where a roll turns from one form to the next.
_PHRASES = {
    False: (EN_VERBS, EN_NOUNS, (0.35, 0.55, 0.7, 0.8)),
    True: (KO_VERBS, KO_NOUNS, (0.4, 0.6, 0.7, 0.8)),
}


def _phrase(rng: random.Random, korean: bool) -> str:
    """A step as people name it: "resize images", "customer reviews", "Kafka topic", "XGBoost";
    "주문 로그 수집", "리뷰 분류", "Kafka 토픽", "대시보드" (Korean puts the verb after its object)."""
    verbs, nouns, (action, thing, tool, verb) = _PHRASES[korean]
    roll = rng.random()
    if roll < action:
        return f"{rng.choice(nouns)} {rng.choice(verbs)}" if korean else f"{rng.choice(verbs)} {rng.choice(nouns)}"
    if roll < thing:
        return rng.choice(nouns) if rng.random() < 0.5 else f"{rng.choice(nouns)} {rng.choice(nouns)}"
    if roll < tool:
        return rng.choice(EN_TOOLS) + ("" if rng.random() < 0.5 else " " + rng.choice(nouns))
    if roll < verb:
        return rng.choice(verbs)
    return random_name(rng, korean)  # random strings keep the copy general


def _typo(word: str, rng: random.Random) -> str:
    """One slip of the keyboard: a swapped, dropped or doubled letter."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    roll = rng.random()
    if roll < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if roll < 0.7:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _name(rng: random.Random, korean: bool, lower: bool) -> str:
    name = _phrase(rng, korean)
    if rng.random() < 0.05 and name.isascii():
        name = _typo(name, rng)
    if lower:
        name = name.lower()
    elif rng.random() < 0.15 and name.isascii():
        name = name[:1].upper() + name[1:]
    return name


# ---------------------------------------------------------------- flowcharts


def _formats(*templates: str) -> tuple:
    """English phrasings as the Korean ones are: functions of the names (and the random source)."""
    return tuple(lambda a, b, r, t=t: t.format(a=a, b=b, bs=b, as_=a) for t in templates)


EN_PAIR_LINKS = _formats(
    "{a} produces {b}",
    "{b} is produced by {a}",
    "{a}, which feeds {b}",
    "{a} and then {b}",
    "{a} is sent to {b}",
    "{a} writes to {b}",
    "{a} gets stored in {b}",
    "{a} is used by {b}",
    "{b} reads from {a}",
    "{b} takes {a}",
    "after {a}, {b}",
    "{a} feeds {b}",
    "{a} goes to {b}",
    "{a} -> {b}",
    "{a} is passed on to {b}",
    "{a} outputs {b}",
    "{a} turns into {b}",
    "{b} consumes {a}",
    "{a} and after that {b}",
    "first {a}, then {b}",
)
EN_FANS = _formats(
    "{a} splits into {bs}",
    "{a} feeds both {bs}",
    "{a} is sent to {bs}",
    "{a} produces {bs}",
    "{a} fans out into {bs}",
    "from {a} we go to {bs}",
)
EN_MERGES = _formats(
    "{as_} both feed {b}",
    "{as_} both go into {b}",
    "{b} combines {as_}",
    "{as_} are joined in {b}",
    "{b} takes {as_}",
    "{as_} all flow into {b}",
    "{as_} get merged into {b}",
)
KO_PAIR_LINKS = (
    lambda a, b, r: f"{a}한 뒤 {b}",
    lambda a, b, r: f"{a}하고 {b}",
    lambda a, b, r: f"{particle(a, '을/를', r)} 거쳐 {b}",
    lambda a, b, r: f"{a}에서 {particle(b, '으로/로', r)}",
    lambda a, b, r: f"{particle(a, '을/를', r)} {particle(b, '으로/로', r)} 보냄",
    lambda a, b, r: f"{a} 다음 {b}",
    lambda a, b, r: f"{a} 이후 {b}",
    lambda a, b, r: f"{a}하고 나서 {b}",
    lambda a, b, r: f"{particle(a, '이/가', r)} {particle(b, '으로/로', r)} 들어감",
    lambda a, b, r: f"{particle(a, '은/는', r)} {particle(b, '으로/로', r)} 이어짐",
    lambda a, b, r: f"{a} 결과를 {particle(b, '으로/로', r)}",
    lambda a, b, r: f"{a} → {b}",
    lambda a, b, r: f"{particle(a, '을/를', r)} {b}에 저장",
)
KO_FANS = (
    lambda a, bs, r: f"{a}에서 {', '.join(bs)}로 나뉨",
    lambda a, bs, r: f"{particle(a, '은/는', r)} {', '.join(bs)} 모두로 감",
    lambda a, bs, r: f"{a} 결과가 {', '.join(bs)}에 각각 들어감",
)
KO_MERGES = (
    lambda as_, b, r: f"{', '.join(as_)} 둘 다 {particle(b, '으로/로', r)}",
    lambda as_, b, r: (
        f"{' '.join(particle(x, '와/과', r) for x in as_[:-1])} {particle(as_[-1], '을/를', r)} 합쳐서 {b}"
    ),
    lambda as_, b, r: f"{particle(b, '은/는', r)} {', '.join(as_)}에서 받음",
)


def _en_and(names: list[str], rng: random.Random) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + rng.choice([" and ", ", and "]) + names[-1]


def _relational(steps: list[Step], rng: random.Random, korean: bool) -> str:
    """The graph as relation clauses ("A produces B", "A와 B를 합쳐서 C"), one per chain link, fan or merge."""
    parts = []
    for kind, sources, targets in _clauses(steps, rng):
        names = [steps[i].label for i in sources]
        outs = [steps[i].label for i in targets]
        if kind == "chain":
            links = KO_PAIR_LINKS if korean else EN_PAIR_LINKS
            parts += [rng.choice(links)(a, b, rng) for a, b in zip(names, names[1:])]
        elif kind == "branch":
            fan = rng.choice(KO_FANS if korean else EN_FANS)
            parts.append(fan(names[0], outs if korean else _en_and(outs, rng), rng))
        else:
            merge = rng.choice(KO_MERGES if korean else EN_MERGES)
            parts.append(merge(names if korean else _en_and(names, rng), outs[0], rng))
    heads = (
        ("", "", "파이프라인: ", "흐름: ", "다음을 그려줘: ") if korean else ("", "", "pipeline: ", "Flow: ", "draw: ")
    )
    tails = ("", " 그려줘", " 다이어그램으로", ".") if korean else ("", ".", " please", " - can you draw that?")
    joiner = rng.choice([", ", ". ", "\n", " 그리고 "] if korean else ["; ", ". ", "\n", ", and ", ". Then "])
    return rng.choice(heads) + joiner.join(parts) + rng.choice(tails)


def flowchart_pair(rng: random.Random) -> tuple[str, str, dict]:
    """A flowchart request with real-word names, relation phrasings or the project's own phrasings."""
    korean = rng.random() < 0.45
    lower = not korean and rng.random() < 0.2
    steps = random_graph(rng, korean, name=lambda r, k: _name(r, k, lower))
    request = _relational(steps, rng, korean) if rng.random() < 0.55 else describe(steps, rng, korean)
    if not korean and rng.random() < 0.1:
        request = request.lower()
        steps = [Step(s.label.lower(), s.kind, s.targets) for s in steps]
    spec = {
        "nodes": [[s.label, s.kind] for s in steps],
        "edges": [[s.label, steps[t].label] for s in steps for t in s.targets],
    }
    return request, "flowchart", spec


# ---------------------------------------------------------------- dense networks


def _count(n: int, rng: random.Random, korean: bool = False) -> str:
    if not korean and n < 20 and rng.random() < 0.35:
        return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
    if korean and n <= 10 and rng.random() < 0.2:
        return "하나 둘 셋 넷 다섯 여섯 일곱 여덟 아홉 열".split()[n - 1]
    return str(n)


def _sizes(rng: random.Random) -> list[int]:
    small = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16]
    big = [20, 30, 32, 50, 64, 100, 128, 256, 300, 512, 784, 1000]
    depth = rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4])
    hidden_size = rng.choice(small if rng.random() < 0.7 else big)
    repeated = rng.random() < 0.3 and depth >= 2
    hidden = (
        [hidden_size] * depth if repeated else [rng.choice(small if rng.random() < 0.7 else big) for _ in range(depth)]
    )
    return [
        rng.choice(small if rng.random() < 0.6 else big),
        *hidden,
        rng.choice(small[:8] if rng.random() < 0.8 else big),
    ]


def _en_dense(layers: list[int], rng: random.Random) -> str:
    inputs, *hidden, outputs = layers
    n = lambda v: _count(v, rng)  # noqa: E731
    inp = rng.choice(
        [
            f"{n(inputs)} inputs",
            f"{n(inputs)} input features",
            f"{n(inputs)} features",
            f"input size {inputs}",
            f"an input layer of {n(inputs)}",
            f"{inputs}-dim input",
            f"{n(inputs)} input neurons",
            f"input dim {inputs}",
        ]
    )
    out = rng.choice(
        [
            f"{n(outputs)} outputs",
            f"{n(outputs)} output",
            f"{n(outputs)} classes",
            f"an output layer of {n(outputs)}",
            f"output size {outputs}",
            f"{n(outputs)} output units",
            f"{n(outputs)} output neurons",
        ]
    )
    if not hidden:
        hid = rng.choice(["no hidden layer", "no hidden layers", ""])
    elif len(set(hidden)) == 1 and len(hidden) > 1 and rng.random() < 0.7:
        k, h = len(hidden), hidden[0]
        hid = rng.choice(
            [
                f"{n(k)} hidden layers of {n(h)}",
                f"{n(k)} hidden layers with {n(h)} units each",
                f"{n(k)} hidden layers, {n(h)} neurons each",
                f"{n(k)} hidden layers of {n(h)} nodes each",
                f"{n(k)} layers of {n(h)} hidden units",
            ]
        )
    else:
        sizes = [n(h) for h in hidden]
        joined = _en_and(sizes, rng)
        hid = rng.choice(
            [
                f"hidden layers of {joined}",
                f"hidden sizes {', '.join(map(str, hidden))}",
                f"{joined} hidden units",
                " then ".join(f"a hidden layer of {s}" for s in sizes),
                f"hidden: {', '.join(map(str, hidden))}",
            ]
        )
        if len(hidden) == 1:
            hid = rng.choice(
                [
                    f"{sizes[0]} hidden units",
                    f"one hidden layer of {sizes[0]}",
                    f"{sizes[0]} hidden neurons",
                    f"a hidden layer with {sizes[0]} nodes",
                ]
            )
    head = rng.choice(
        [
            "",
            "",
            "draw a neural net with ",
            "mlp: ",
            "a network with ",
            "Neural network, ",
            "model with ",
            "can you draw an MLP that has ",
            "classifier: ",
            "regression net - ",
        ]
    )
    parts = [inp, hid, out] if hid else [inp, out]
    body = rng.choice([", ".join(parts), _en_and(parts, rng), ", then ".join(parts), "; ".join(parts)])
    return head + body + rng.choice(["", "", ".", " pls", " please"])


def _ko_dense(layers: list[int], rng: random.Random) -> str:
    inputs, *hidden, outputs = layers
    n = lambda v: _count(v, rng, korean=True)  # noqa: E731
    inp = rng.choice(
        [
            f"입력 {inputs}개",
            f"입력층 {inputs}",
            f"입력 특성 {inputs}개",
            f"입력 차원 {inputs}",
            f"입력 노드 {inputs}개",
            f"특성 {inputs}개",
        ]
    )
    out = rng.choice(
        [
            f"출력 {outputs}개",
            f"출력층 {outputs}",
            f"클래스 {outputs}개",
            f"출력 노드 {outputs}개",
            f"출력은 {outputs}개",
        ]
    )
    if not hidden:
        hid = rng.choice(["은닉층 없이", ""])
    elif len(set(hidden)) == 1 and len(hidden) > 1 and rng.random() < 0.7:
        k, h = len(hidden), hidden[0]
        hid = rng.choice(
            [
                f"은닉층은 {k}층인데 층마다 노드 {h}개씩",
                f"노드 {h}개짜리 은닉층 {k}개",
                f"은닉층 {k}개(각 {h}개)",
                f"은닉층 {k}개, 각각 {h}개",
                f"은닉층 {n(k)} 개에 노드 {h}개씩",
            ]
        )
    else:
        hid = rng.choice(
            [
                f"은닉층 {', '.join(map(str, hidden))}",
                " ".join(f"은닉층 {h}개" for h in hidden),
                f"은닉층 노드 {', '.join(map(str, hidden))}개",
                f"은닉 {'-'.join(map(str, hidden))}",
            ]
        )
    parts = [inp, hid, out] if hid else [inp, out]
    tail = rng.choice(["", " 신경망 그려줘", "인 신경망", " MLP 그려주세요", " 구조로 그려줘", ""])
    return (
        rng.choice(["", "", "신경망: ", "MLP ", "다층 퍼셉트론: "]) + rng.choice([", ", " / ", ", "]).join(parts) + tail
    )


def dense_pair(rng: random.Random) -> tuple[str, str, dict]:
    layers = _sizes(rng)
    korean = rng.random() < 0.4
    request = _ko_dense(layers, rng) if korean else _en_dense(layers, rng)
    return request, "dense", {"layers": layers}


# ---------------------------------------------------------------- CNNs

EXTRA_LAYERS = {
    "en": (
        "BatchNorm",
        "ReLU",
        "LeakyReLU",
        "GELU",
        "Flatten",
        "Dropout {p}",
        "Global average pooling",
        "global average pooling",
        "AvgPool 2x2",
        "Batch normalization",
        "batch norm",
        "Softmax",
        "dropout {p}",
        "Layer norm",
        "SiLU",
        "Tanh",
    ),
    "ko": (
        "배치 정규화",
        "드롭아웃 {p}",
        "활성화 ReLU",
        "평탄화",
        "전역 평균 풀링",
        "BatchNorm",
        "ReLU",
        "Dropout {p}",
        "Flatten",
        "Global average pooling",
        "소프트맥스",
    ),
}


def _conv(k: int, f: int, rng: random.Random, korean: bool) -> str:
    if korean:
        return rng.choice(
            [
                f"합성곱 {k}x{k} 필터 {f}개",
                f"{k}x{k} 합성곱 필터 {f}개",
                f"Conv {k}x{k} 필터 {f}개",
                f"{k}x{k} 컨볼루션 필터 {f}개",
                f"Conv {k}x{k} {f}개",
                f"컨볼루션 {k}x{k}, {f}채널",
            ]
        )
    return rng.choice(
        [
            f"conv {k}x{k} with {f} filters",
            f"{k}x{k} conv, {f} filters",
            f"a {k}x{k} conv with {f} filters",
            f"Conv {k}x{k}, {f}",
            f"conv{k}x{k} {f}",
            f"{f} {k}x{k} filters",
            f"conv {k}x{k} ({f} channels)",
            f"convolution {k}x{k} with {f} kernels",
        ]
    )


def _pool(rng: random.Random, korean: bool) -> str:
    if korean:
        return rng.choice(["맥스풀링", "맥스풀링 2x2", "MaxPool 2x2", "MaxPool", "최대 풀링"])
    return rng.choice(
        ["maxpool", "max pool", "max pool 2x2", "MaxPool 2x2", "2x2 max pooling", "max-pooling", "a max pool"]
    )


def cnn_pair(rng: random.Random) -> tuple[str, str, dict]:
    """A CNN with the layers people add (norms, activations, dropout, flatten), in English or Korean."""
    korean = rng.random() < 0.4
    lang = "ko" if korean else "en"
    labels, phrases = [], []
    if rng.random() < 0.85:
        h = rng.choice([28, 32, 48, 64, 96, 128, 224, 256])
        c = rng.choice([1, 3, 3])
        with_c = rng.random() < 0.85
        dims = f"{h}x{h}x{c}" if with_c else f"{h}x{h}"
        labels.append(f"Input {dims}")
        if korean:
            phrases.append(rng.choice([f"입력 {dims}", f"{dims} 입력", f"입력 이미지 {dims}"]))
        else:
            phrases.append(rng.choice([f"input {dims}", f"{dims} input", f"an input of {dims}", f"Input {dims}"]))
    p = rng.choice(["0.1", "0.2", "0.25", "0.3", "0.5"])
    for _ in range(rng.randint(1, 3)):
        k, f = rng.choice([1, 3, 3, 5, 7]), rng.choice([6, 8, 16, 20, 32, 64, 128, 256])
        for _ in range(1 if rng.random() < 0.75 else 2):
            labels.append(f"Conv {k}x{k}, {f}")
            phrases.append(_conv(k, f, rng, korean))
            if rng.random() < 0.3:
                extra = rng.choice(EXTRA_LAYERS[lang][:8]).format(p=p)
                labels.append(extra)
                phrases.append(extra)
        if rng.random() < 0.75:
            labels.append("MaxPool 2x2")
            phrases.append(_pool(rng, korean))
        if rng.random() < 0.15:
            extra = rng.choice(EXTRA_LAYERS[lang]).format(p=p)
            labels.append(extra)
            phrases.append(extra)
    for _ in range(rng.choice([0, 1, 1, 2])):
        units = rng.choice([32, 50, 64, 84, 100, 120, 128, 256, 512, 1024, 4096])
        labels.append(f"FC {units}")
        if korean:
            phrases.append(rng.choice([f"완전연결 {units}", f"완전연결층 {units}", f"FC {units}", f"덴스 {units}"]))
        else:
            phrases.append(
                rng.choice(
                    [
                        f"dense {units}",
                        f"fc {units}",
                        f"a fully connected layer of {units}",
                        f"FC {units}",
                        f"linear {units}",
                        f"dense layer with {units} units",
                    ]
                )
            )
    outputs = rng.choice([2, 3, 5, 7, 10, 10, 100, 1000])
    labels.append(f"Output {outputs}")
    if korean:
        phrases.append(rng.choice([f"출력 {outputs}", f"출력 {outputs}개", f"클래스 {outputs}개 출력"]))
    else:
        phrases.append(
            rng.choice([f"output {outputs}", f"{outputs} outputs", f"an output of {outputs}", f"{outputs} classes out"])
        )
    roll = rng.random()
    if roll < 0.15:
        body = "\n".join(f"- {x}" for x in phrases)
        sep_head = ":\n"
    elif roll < 0.25:
        body = "\n".join(f"{i}. {x}" for i, x in enumerate(phrases, 1))
        sep_head = ":\n"
    else:
        body = rng.choice([", ", " -> ", " → ", " > ", ", then ", " then "]).join(phrases)
        sep_head = rng.choice([": ", ", ", " - "])
    heads = (
        ("CNN", "이미지 분류 CNN", "합성곱 신경망", "CNN 그려줘")
        if korean
        else ("CNN", "cnn", "conv net", "convnet for images", "small cnn", "Image classifier CNN")
    )
    return rng.choice(heads) + sep_head + body, "cnn", {"labels": labels}


# ---------------------------------------------------------------- the mix

BUILDERS = {"dense": dense_pair, "cnn": cnn_pair, "flowchart": flowchart_pair}


def pairs(count: int, seed: int = 7, written_share: float = 0.5) -> list[tuple[str, str]]:
    """`count` (request, plan) pairs: `written_share` from this module, the rest from training.synthetic."""
    rng = random.Random(f"plan:{seed}")
    written = int(count * written_share)
    out = [(e.request, plan_text(e.family, e.spec)) for e in generate(count - written, "train", seed, FAMILIES)]
    for i in range(written):
        request, family, spec = BUILDERS[FAMILIES[i % len(FAMILIES)]](rng)
        out.append((request, plan_text(family, spec)))
    rng.shuffle(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print (request, plan) pairs for the planner.")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for request, plan in pairs(args.count, args.seed, written_share=1.0):
        print(repr(request), "\n  ->", plan)


if __name__ == "__main__":
    main()
