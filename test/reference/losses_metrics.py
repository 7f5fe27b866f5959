#!/usr/bin/python3
"""Independent reference values for SynthPair's SSL losses and evaluation metrics.

Run with Debian's PyTorch:  /usr/bin/python3 test/reference/losses_metrics.py
Writes test/fixtures/reference/losses_metrics.json (inputs and expected outputs) for
test/unit/losses.test.ts and test/unit/evalMetrics.test.ts.

Everything here is written from the papers' formulas and the authors' published PyTorch code, not from the
TypeScript implementation, so that the tests compare two independent computations.
"""

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240714
OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "losses_metrics.json"

rng = np.random.default_rng(SEED)
torch.set_default_dtype(torch.float64)  # reference values in double; the inputs themselves are float32 values


def float32_matrix(rows, cols, scale=1.0, offset=0.0):
    return (rng.standard_normal((rows, cols)) * scale + offset).astype(np.float32)


def as_tensor(array, requires_grad=False):
    return torch.tensor(array.astype(np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------- losses


def nt_xent(z1, z2, temperature):
    # SimCLR eq. 1 in the usual masked cross-entropy form: row i of the 2N×2N similarity matrix without its
    # diagonal, target = the other view.
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


def nt_xent_loop(z1, z2, temperature):
    # The same quantity summed term by term, as a check on the vectorised form above.
    u = np.concatenate([z1, z2]).astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    n2 = u.shape[0]
    total = 0.0
    for i in range(n2):
        positive = (i + n2 // 2) % n2
        denominator = sum(np.exp(u[i] @ u[j] / temperature) for j in range(n2) if j != i)
        total += -np.log(np.exp(u[i] @ u[positive] / temperature) / denominator)
    return total / n2


def info_nce(q, k, queue, temperature):
    # MoCo's Algorithm 1 / moco/builder.py: l_pos, l_neg, logits / T, cross-entropy against label 0.
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1).detach()
    queue = F.normalize(queue, dim=1).detach()
    l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
    l_neg = torch.einsum("nc,kc->nk", q, queue)
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))


def simsiam(p1, p2, z1, z2):
    # SimSiam Algorithm 1: D(p, z) = -cosine(p, z.detach()).mean(); L = D(p1, z2)/2 + D(p2, z1)/2.
    def d(p, z):
        return -F.cosine_similarity(p, z.detach(), dim=-1).mean()

    return d(p1, z2) / 2 + d(p2, z1) / 2


def byol(p1, p2, z1, z2):
    # BYOL eq. 2 and its symmetrisation L + L~ (the two directions are summed).
    def regression(p, z):
        p = F.normalize(p, dim=-1)
        z = F.normalize(z.detach(), dim=-1)
        return (2 - 2 * (p * z).sum(dim=-1)).mean()

    return regression(p1, z2) + regression(p2, z1)


def loss_case(function, arrays, gradient_of, **parameters):
    tensors = {name: as_tensor(value, requires_grad=True) for name, value in arrays.items()}
    loss = function(**tensors, **parameters)
    loss.backward()
    return {
        "inputs": {name: value.tolist() for name, value in arrays.items()},
        **parameters,
        "loss": loss.item(),
        # A detached (stop-gradient) input gets no .grad at all; its gradient is zero.
        "gradients": {
            name: (tensors[name].grad if tensors[name].grad is not None else torch.zeros_like(tensors[name]))
            .numpy()
            .tolist()
            for name in gradient_of
        },
    }


N, D, K = 8, 16, 32
z1, z2 = float32_matrix(N, D), float32_matrix(N, D, scale=2.0, offset=0.3)
losses = {
    "ntXent": [
        loss_case(nt_xent, {"z1": z1, "z2": z2}, ["z1", "z2"], temperature=temperature)
        for temperature in (0.5, 0.1)
    ],
    "infoNce": loss_case(
        info_nce,
        {"q": float32_matrix(N, D), "k": float32_matrix(N, D), "queue": float32_matrix(K, D)},
        ["q", "k", "queue"],
        temperature=0.2,
    ),
    "simSiam": loss_case(
        simsiam,
        {"p1": float32_matrix(N, D), "p2": float32_matrix(N, D), "z1": z1, "z2": z2},
        ["p1", "p2", "z1", "z2"],
    ),
    "byol": loss_case(
        byol,
        {"p1": float32_matrix(N, D), "p2": float32_matrix(N, D), "z1": z1, "z2": z2},
        ["p1", "p2", "z1", "z2"],
    ),
}
for case in losses["ntXent"]:
    assert abs(case["loss"] - nt_xent_loop(z1, z2, case["temperature"])) < 1e-10

# ---------------------------------------------------------------- features for kNN and retrieval


def cosine_matrix(a, b):
    a = a.astype(np.float64) / np.linalg.norm(a, axis=1, keepdims=True)
    b = b.astype(np.float64) / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def clustered_features(labels, centres, noise):
    return (centres[labels] + rng.standard_normal((len(labels), centres.shape[1])) * noise).astype(np.float32)


CLASSES, FEATURE_DIM = 5, 8
centres = rng.standard_normal((CLASSES, FEATURE_DIM)) * 1.5
train_labels = np.repeat(np.arange(CLASSES), 12)
# Class 4 has a single test image: a retrieval query with nothing relevant to find.
test_labels = np.array([0] * 6 + [1] * 6 + [2] * 5 + [3] * 4 + [4])
train_features = clustered_features(train_labels, centres, 1.2)
test_features = clustered_features(test_labels, centres, 1.2)


def weighted_knn(k, temperature):
    # solo-learn's WeightedKNNClassifier / the MoCo kNN monitor, in torch.
    sim = torch.tensor(cosine_matrix(test_features, train_features))
    top_sim, top_index = sim.topk(k, dim=1)
    neighbour_labels = torch.tensor(train_labels)[top_index]
    one_hot = F.one_hot(neighbour_labels, CLASSES).double()
    votes = (one_hot * (top_sim / temperature).exp().unsqueeze(-1)).sum(dim=1)
    ordered = votes.sort(dim=1, descending=True).values
    # An exact top-1 comparison needs every vote decided by more than float32 rounding.
    assert (ordered[:, 0] - ordered[:, 1]).min() > 1e-3 * ordered[:, 0].max() or k == 1
    # Likewise the k-th and (k+1)-th neighbours must not be near-tied, or float32 could swap who votes.
    sorted_sim = sim.sort(dim=1, descending=True).values
    assert (sorted_sim[:, k - 1] - sorted_sim[:, k]).abs().min() > 1e-5
    predicted = votes.argmax(dim=1).numpy()
    return {"k": k, "temperature": temperature, "top1": float((predicted == test_labels).mean())}


def average_precision(relevant_in_rank_order):
    relevant = np.asarray(relevant_in_rank_order, dtype=np.float64)
    precision_at = np.cumsum(relevant) / np.arange(1, len(relevant) + 1)
    return float((precision_at * relevant).sum() / relevant.sum())


# Hand-computed: relevant at ranks 1 and 3 → (1/1 + 2/3) / 2.
assert abs(average_precision([1, 0, 1, 0]) - (1 + 2 / 3) / 2) < 1e-15


def retrieval(features, labels):
    sim = cosine_matrix(features, features)
    rank1, rank5, aps, excluded = [], [], [], 0
    for query in range(len(labels)):
        others = np.array([i for i in range(len(labels)) if i != query])
        order = others[np.argsort(-sim[query, others], kind="stable")]
        gaps = -np.diff(sim[query, order])
        assert gaps.min() > 1e-5, "near-tied similarities would make the ranking float32-fragile"
        relevant = labels[order] == labels[query]
        if not relevant.any():
            excluded += 1
            continue
        rank1.append(relevant[:1].any())
        rank5.append(relevant[:5].any())
        aps.append(average_precision(relevant))
    return {
        "rank1": float(np.mean(rank1)),
        "rank5": float(np.mean(rank5)),
        "mAP": float(np.mean(aps)),
        "evaluatedQueries": len(aps),
        "excludedQueries": excluded,
    }


# ---------------------------------------------------------------- linear probe


def linear_probe(weight_decay):
    # The probe's objective, mean cross-entropy + (λ/2)‖W‖² on standardized features, minimised to convergence
    # with L-BFGS; it is strongly convex, so any optimiser that converges predicts the same classes unless a test
    # point lies on a decision boundary (checked below).
    mean = probe_train.astype(np.float64).mean(axis=0)
    std = probe_train.astype(np.float64).std(axis=0)
    x_train = torch.tensor((probe_train - mean) / std)
    x_test = torch.tensor((probe_test - mean) / std)
    y_train = torch.tensor(probe_train_labels)
    weights = torch.zeros(x_train.shape[1], PROBE_CLASSES, requires_grad=True)
    bias = torch.zeros(PROBE_CLASSES, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=2000, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        value = F.cross_entropy(x_train @ weights + bias, y_train) + weight_decay / 2 * (weights**2).sum()
        value.backward()
        return value

    for _ in range(20):
        optimizer.step(objective)
    objective()
    assert weights.grad.abs().max() < 1e-7, float(weights.grad.abs().max())
    logits = (x_test @ weights + bias).detach()
    top2 = logits.topk(2, dim=1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    assert margin > 0.05, f"a test point is within {margin} of a decision boundary"
    predictions = logits.argmax(dim=1).numpy()
    print(f"linear probe: smallest test-logit margin {margin:.3f}")
    return {
        "weightDecay": weight_decay,
        "predictions": predictions.tolist(),
        "top1": float((predictions == probe_test_labels).mean()),
    }


PROBE_CLASSES, PROBE_DIM = 3, 6
probe_centres = rng.standard_normal((PROBE_CLASSES, PROBE_DIM))
probe_train_labels = np.repeat(np.arange(PROBE_CLASSES), 30)
probe_test_labels = np.repeat(np.arange(PROBE_CLASSES), 15)
# Unequal scales and offsets per dimension, so that the standardization matters.
dimension_scale = np.array([0.5, 1, 2, 4, 8, 16], dtype=np.float64)
probe_train = (clustered_features(probe_train_labels, probe_centres, 1.1) * dimension_scale + 3).astype(np.float32)
probe_test = (clustered_features(probe_test_labels, probe_centres, 1.1) * dimension_scale + 3).astype(np.float32)

reference = {
    "seed": SEED,
    "losses": losses,
    "knn": {
        "train": {"features": train_features.tolist(), "labels": train_labels.tolist()},
        "test": {"features": test_features.tolist(), "labels": test_labels.tolist()},
        "cases": [weighted_knn(1, 0.07), weighted_knn(5, 0.07), weighted_knn(20, 0.5)],
    },
    "retrieval": retrieval(test_features, test_labels),
    "linearProbe": {
        "train": {"features": probe_train.tolist(), "labels": probe_train_labels.tolist()},
        "test": {"features": probe_test.tolist(), "labels": probe_test_labels.tolist()},
        **linear_probe(1e-2),
    },
}

OUTPUT.parent.mkdir(parents=True, exist_ok=True)
OUTPUT.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")
print("knn", reference["knn"]["cases"], "retrieval", reference["retrieval"])
print("linear probe top1", reference["linearProbe"]["top1"])
