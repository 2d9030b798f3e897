"""Baseline defenses: each mechanism against a dense NumPy oracle, on a case built for it,
plus parameter validation and scikit-learn compatibility."""
import pickle

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.datasets import make_moons
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from floral.defenses import (
    KLIDSVC,
    LNSVC,
    CurieSVC,
    LabelSanitizedSVC,
    _klid,
    curie_filter,
    klid_weights,
    sanitize_labels,
)
from oracles import kernel_reference

ESTIMATORS = (LNSVC, CurieSVC, LabelSanitizedSVC, KLIDSVC)


@pytest.fixture(scope="module")
def noisy_moons():
    """Moons with 10% of the labels flipped at random, and held-out points."""
    X, y = make_moons(160, noise=0.2, random_state=3)
    rng = np.random.RandomState(3)
    flip = rng.choice(120, 12, replace=False)
    y_tr = y[:120].copy()
    y_tr[flip] = 1 - y_tr[flip]
    return X[:120], y_tr, X[120:]


def _blobs_with_isolated_flips():
    """Two well-separated blobs, 60 points each, three flipped labels in each blob.

    The flipped points are the ones closest to three spread-out anchors inside each blob,
    so no two flipped points are near each other and each is surrounded by the other
    label.
    """
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal((-3.0, 0.0), 0.5, (60, 2)), rng.normal((3.0, 0.0), 0.5, (60, 2))]
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    flipped = []
    for centre in (-3.0, 3.0):
        for dx, dy in ((-0.5, 0.0), (0.4, 0.4), (0.3, -0.5)):
            d = np.hypot(X[:, 0] - (centre + dx), X[:, 1] - dy)
            flipped.append(int(np.argmin(d)))
    flipped = np.array(flipped)
    assert np.unique(flipped).size == 6
    y_bad = y.copy()
    y_bad[flipped] = 1 - y_bad[flipped]
    return X, y, y_bad, flipped


def _svc_decision(X_fit, y_fit, X_eval, gamma, sample_weight=None, **kw):
    svc = SVC(C=kw.pop("C", 10.0), gamma=gamma, **kw).fit(X_fit, y_fit,
                                                          sample_weight=sample_weight)
    return svc.decision_function(X_eval)


# --- LNSVC ----------------------------------------------------------------------------------

def _ln_gram_reference(X, mu, kernel, gamma, degree=3, coef0=0.0):
    K = kernel_reference(X, X, kernel, gamma, degree, coef0)
    factor = 1.0 - 4.0 * mu * (1.0 - mu)
    K_ln = factor * K
    K_ln[np.diag_indices_from(K_ln)] = np.diag(K)
    return K_ln


@pytest.mark.parametrize("mu", [0.05, 0.25, 0.4])
@pytest.mark.parametrize("kernel, gamma", [("rbf", 1.0), ("poly", 0.5), ("linear", 1.0)])
def test_lnsvc_fits_the_corrected_kernel(noisy_moons, mu, kernel, gamma):
    X, y, X_new = noisy_moons
    clf = LNSVC(C=10, kernel=kernel, gamma=gamma, coef0=1.0, mu=mu).fit(X, y)
    K_ln = _ln_gram_reference(X, mu, kernel, gamma, coef0=1.0)
    ref = SVC(C=10, kernel="precomputed").fit(K_ln, y)
    np.testing.assert_array_equal(clf.support_, ref.support_)
    np.testing.assert_allclose(clf.dual_coef_, ref.dual_coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-6, atol=1e-8)
    # prediction with the plain kernel between new and training points
    K_new = kernel_reference(X_new, X, kernel, gamma, 3, 1.0)
    expected = K_new[:, ref.support_] @ ref.dual_coef_[0] + ref.intercept_[0]
    np.testing.assert_allclose(clf.decision_function(X_new), expected, rtol=1e-6, atol=1e-7)


def test_lnsvc_correction_changes_the_model_and_mu_zero_is_svc(noisy_moons):
    X, y, X_new = noisy_moons
    plain = _svc_decision(X, y, X_new, gamma=1.0)
    np.testing.assert_allclose(LNSVC(C=10, gamma=1.0, mu=0.0).fit(X, y).decision_function(X_new),
                               plain, rtol=1e-6, atol=1e-7)
    corrected = LNSVC(C=10, gamma=1.0).fit(X, y).decision_function(X_new)
    assert np.max(np.abs(corrected - plain)) > 0.1


# --- Curie ----------------------------------------------------------------------------------

def _curie_reference(X, y01, weight, count, theta, eps, min_samples):
    """Brute force: DBSCAN clusters, then per point the mean augmented distance to its
    `count` nearest cluster mates in feature space, z-scored over the scored points."""
    clusters = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(X)
    ys = np.where(y01 == np.unique(y01)[1], 1.0, -1.0)
    n = len(X)
    score = np.full(n, np.nan)
    for i in range(n):
        if clusters[i] < 0:
            continue
        mates = np.flatnonzero((clusters == clusters[i]) & (np.arange(n) != i))
        if mates.size == 0:
            continue
        d_feat = np.sqrt(((X[mates] - X[i]) ** 2).sum(axis=1))
        nearest = mates[np.argsort(d_feat)[:count]]
        aug_i = np.r_[X[i], weight * ys[i]]
        aug = np.c_[X[nearest], weight * ys[nearest]]
        score[i] = np.mean(np.sqrt(((aug - aug_i) ** 2).sum(axis=1)))
    ok = ~np.isnan(score)
    z = np.full(n, np.nan)
    z[ok] = (score[ok] - score[ok].mean()) / score[ok].std()
    return ~(z > theta), z


@pytest.mark.parametrize("weight, count, theta, eps, min_samples", [
    (0.05, 20, 0.75, 0.5, 5), (1.0, 5, 0.5, 0.3, 3), (3.0, 200, 1.5, 0.4, 8),
])
def test_curie_filter_matches_brute_force(noisy_moons, weight, count, theta, eps,
                                          min_samples):
    X, y, _ = noisy_moons
    keep, z = curie_filter(X, y, weight=weight, count=count, theta=theta, eps=eps,
                           min_samples=min_samples, return_scores=True)
    keep_ref, z_ref = _curie_reference(X, y, weight, count, theta, eps, min_samples)
    np.testing.assert_allclose(z, z_ref, rtol=1e-10, atol=1e-12)  # NaNs in the same places
    np.testing.assert_array_equal(keep, keep_ref)
    assert 0 < np.count_nonzero(~keep) < len(y)


def test_curie_removes_isolated_flipped_points():
    X, y, y_bad, flipped = _blobs_with_isolated_flips()
    # eps=1: each blob is one cluster, nothing is noise
    assert np.unique(DBSCAN(eps=1.0, min_samples=5).fit_predict(X)).tolist() == [0, 1]
    keep = curie_filter(X, y_bad, weight=2.0, eps=1.0)
    assert not keep[flipped].any()
    clean = np.setdiff1d(np.arange(len(y)), flipped)
    assert keep[clean].mean() >= 0.9
    # the SVC behind CurieSVC sees exactly the kept points
    clf = CurieSVC(C=10, gamma=1.0, weight=2.0, eps=1.0).fit(X, y_bad)
    np.testing.assert_array_equal(clf.kept_, keep)
    assert np.isin(clf.support_, np.flatnonzero(keep)).all()


def test_curie_keeps_dbscan_noise_points():
    X, y, y_bad, _ = _blobs_with_isolated_flips()
    X = np.r_[X, [[0.0, 10.0]]]
    y_bad = np.r_[y_bad, 1]
    keep, z = curie_filter(X, y_bad, weight=2.0, eps=1.0, return_scores=True)
    assert np.isnan(z[-1]) and keep[-1]
    assert np.count_nonzero(np.isnan(z)) == 1


def test_curiesvc_is_svc_on_the_kept_points_with_gamma_from_all_points(noisy_moons):
    X, y, X_new = noisy_moons
    clf = CurieSVC(C=10, gamma="scale", weight=0.5).fit(X, y)
    keep = curie_filter(X, y, weight=0.5)
    assert not keep.all()
    gamma = 1.0 / (X.shape[1] * X.var())  # SVC's "scale" on the whole training set
    expected = _svc_decision(X[keep], y[keep], X_new, gamma=gamma)
    np.testing.assert_allclose(clf.decision_function(X_new), expected, rtol=1e-6, atol=1e-7)


# --- label sanitization --------------------------------------------------------------------

def _sanitize_reference(X, y01, k, eta, max_iter=1):
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(D, np.inf)
    nbr = np.argsort(D, axis=1)[:, :k]
    labels = y01.copy()
    for _ in range(max_iter):
        frac_one = (labels[nbr] == 1).mean(axis=1)
        new = labels.copy()
        new[frac_one >= eta] = 1
        new[1 - frac_one >= eta] = 0
        labels = new
    return labels


@pytest.mark.parametrize("k, eta", [(20, 0.75), (5, 0.6), (9, 1.0), (4, 0.5 + 1e-9)])
def test_sanitize_labels_matches_brute_force(noisy_moons, k, eta):
    X, y, _ = noisy_moons
    y_new = sanitize_labels(X, y, k=k, eta=eta)
    np.testing.assert_array_equal(y_new, _sanitize_reference(X, y, k, eta))
    assert np.any(y_new != y)


def test_sanitize_labels_restores_isolated_flipped_points():
    X, y, y_bad, flipped = _blobs_with_isolated_flips()
    y_new = sanitize_labels(X, y_bad)
    np.testing.assert_array_equal(y_new, y)
    clf = LabelSanitizedSVC(C=10, gamma=1.0).fit(X, y_bad)
    np.testing.assert_array_equal(np.sort(clf.relabelled_), np.sort(flipped))
    np.testing.assert_array_equal(clf.y_sanitized_, y)


def test_one_pass_judges_every_point_on_the_given_labels(noisy_moons):
    X, y, _ = noisy_moons
    perm = np.random.RandomState(0).permutation(len(y))
    np.testing.assert_array_equal(sanitize_labels(X[perm], y[perm]), sanitize_labels(X, y)[perm])


def test_more_passes_repeat_the_relabelling(noisy_moons):
    X, y, _ = noisy_moons
    for passes in (2, 3):
        np.testing.assert_array_equal(sanitize_labels(X, y, k=5, eta=0.6, max_iter=passes),
                                      _sanitize_reference(X, y, 5, 0.6, passes))
    clf = LabelSanitizedSVC(k=5, eta=0.6, max_iter=50).fit(X, y)
    assert 1 < clf.n_iter_ < 50  # stopped early at a fixed point ...
    again = sanitize_labels(X, clf.y_sanitized_, k=5, eta=0.6)
    np.testing.assert_array_equal(again, clf.y_sanitized_)  # ... which one more pass keeps
    assert LabelSanitizedSVC().fit(X, y).n_iter_ == 1


def test_labelsanitizedsvc_is_svc_on_the_sanitized_labels(noisy_moons):
    X, y, X_new = noisy_moons
    clf = LabelSanitizedSVC(C=10, gamma=1.0, k=7).fit(X, y)
    expected = _svc_decision(X, sanitize_labels(X, y, k=7), X_new, gamma=1.0)
    np.testing.assert_allclose(clf.decision_function(X_new), expected, rtol=1e-6, atol=1e-7)


# --- K-LID --------------------------------------------------------------------------------

def _klid_reference(X, y01, k, kernel, gamma, center, slope, min_weight, degree=3,
                    coef0=0.0):
    K = kernel_reference(X, X, kernel, gamma, degree, coef0)
    R = np.sqrt(np.maximum(np.diag(K)[:, None] + np.diag(K)[None, :] - 2 * K, 0.0))
    n = len(X)

    def lid(dists):
        r = np.sort(dists)[:k]
        return -1.0 / np.mean(np.log(r / r[-1]))

    ratio = np.empty(n)
    for i in range(n):
        same = np.flatnonzero((y01 == y01[i]) & (np.arange(n) != i))
        other = np.flatnonzero(y01 != y01[i])
        ratio[i] = lid(R[i, same]) / lid(R[i, other])
    weights = min_weight + (1 - min_weight) / (1 + (ratio / center) ** slope)
    return weights, ratio


@pytest.mark.parametrize("k, kernel, gamma, center, slope, min_weight", [
    (10, "rbf", 1.0, 1.0, 2.0, 0.1), (5, "rbf", 3.0, 0.5, 1.0, 0.0),
    (15, "poly", 0.5, 2.0, 4.0, 0.3), (8, "linear", 1.0, 1.0, 2.0, 0.1),
])
def test_klid_weights_match_dense_reference(noisy_moons, k, kernel, gamma, center, slope,
                                            min_weight):
    X, y, _ = noisy_moons
    w, ratio = klid_weights(X, y, k=k, kernel=kernel, gamma=gamma, coef0=1.0,
                            weight_center=center, weight_slope=slope, min_weight=min_weight,
                            return_ratio=True)
    w_ref, ratio_ref = _klid_reference(X, y, k, kernel, gamma, center, slope, min_weight,
                                       coef0=1.0)
    np.testing.assert_allclose(ratio, ratio_ref, rtol=1e-7)
    np.testing.assert_allclose(w, w_ref, rtol=1e-7, atol=1e-12)
    assert np.all((w >= min_weight) & (w <= 1))


def test_klid_blocks_do_not_change_the_weights(noisy_moons, monkeypatch):
    X, y, _ = noisy_moons
    whole = klid_weights(X, y, gamma=1.0)
    monkeypatch.setattr(_klid, "_BLOCK_ENTRIES", 7 * 64)  # a few rows per block
    # equal up to BLAS rounding, which depends on the block shape
    np.testing.assert_allclose(klid_weights(X, y, gamma=1.0), whole, rtol=1e-12)


def test_klid_gives_isolated_flipped_points_lower_weights():
    X, y, y_bad, flipped = _blobs_with_isolated_flips()
    # gamma=1 as in the paper's experiments; at smaller gamma the kernel distance reaches
    # further, and clean points next to a flipped one start to look suspicious too
    w, ratio = klid_weights(X, y_bad, gamma=1.0, return_ratio=True)
    clean = np.setdiff1d(np.arange(len(y)), flipped)
    assert w[flipped].max() < w[clean].min()
    assert np.all(ratio[flipped] > 1) and np.median(ratio[clean]) < 1
    clf = KLIDSVC(C=10, gamma=1.0).fit(X, y_bad)
    np.testing.assert_allclose(clf.klid_weights_, w)


def test_klidsvc_is_svc_with_the_klid_weights(noisy_moons):
    X, y, X_new = noisy_moons
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    clf = KLIDSVC(C=10, gamma=1.0).fit(X, y, sample_weight=sw)
    expected = _svc_decision(X, y, X_new, gamma=1.0,
                             sample_weight=sw * klid_weights(X, y, gamma=1.0))
    np.testing.assert_allclose(clf.decision_function(X_new), expected, rtol=1e-6, atol=1e-7)


def test_klid_survives_duplicates_and_tiny_classes():
    X = np.r_[np.zeros((5, 2)), np.ones((3, 2)), [[5.0, 5.0]]]
    y = np.r_[np.zeros(5), np.ones(3), [1]]
    w, ratio = klid_weights(X, y, k=5, return_ratio=True)  # more than a class holds
    assert np.all(np.isfinite(w)) and not np.any(np.isnan(ratio))


# --- what every defense shares ------------------------------------------------------------

def _make(cls, **kw):
    return cls(C=10, gamma=1.0, **kw)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_runner_construction_and_scores(cls, noisy_moons):
    X, y, _ = noisy_moons
    clf = _make(cls).fit(X, y)
    assert clf.score(X, y) > 0.75
    assert clf.predict(X).shape == y.shape


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predict_and_decision_agree_with_classes(cls, noisy_moons):
    X, y, X_new = noisy_moons
    clf = _make(cls).fit(X, y)
    dec = clf.decision_function(X_new)
    np.testing.assert_array_equal(clf.predict(X_new), clf.classes_[(dec > 0).astype(int)])
    # SVC's decision function on the same support vectors, by hand
    K = kernel_reference(X_new, clf.support_vectors_, "rbf", 1.0)
    np.testing.assert_allclose(dec, K @ clf.dual_coef_[0] + clf.intercept_[0], rtol=1e-10)
    np.testing.assert_array_equal(clf.support_vectors_, X[clf.support_])
    assert clf.n_support_.sum() == clf.support_.size


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_string_labels(cls, noisy_moons):
    X, y, X_new = noisy_moons
    names = np.array(["benign", "malign"])
    a = _make(cls).fit(X, y)
    b = _make(cls).fit(X, names[y])
    np.testing.assert_array_equal(b.classes_, names)
    np.testing.assert_array_equal(b.predict(X_new), names[a.predict(X_new)])
    np.testing.assert_allclose(b.decision_function(X_new), a.decision_function(X_new))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip(cls, noisy_moons):
    X, y, X_new = noisy_moons
    clf = _make(cls).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.decision_function(X_new), clf.decision_function(X_new))
    assert back.get_params() == clf.get_params()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inputs_untouched(cls, noisy_moons):
    X, y, X_new = noisy_moons
    sw = np.linspace(0.5, 1.5, len(y))
    copies = [a.copy() for a in (X, y, sw, X_new)]
    for a in (X, y, sw, X_new):
        a.flags.writeable = False  # a write would raise
    try:
        clf = _make(cls).fit(X, y, sample_weight=sw)
        clf.predict(X_new)
    finally:
        for a in (X, y, sw, X_new):
            a.flags.writeable = True
    for a, c in zip((X, y, sw, X_new), copies):
        np.testing.assert_array_equal(a, c)


def test_filters_leave_inputs_untouched(noisy_moons):
    X, y, _ = noisy_moons
    X_copy, y_copy = X.copy(), y.copy()
    y_new = sanitize_labels(X, y)
    assert not np.shares_memory(y_new, y) and y_new.dtype == y.dtype
    curie_filter(X, y)
    klid_weights(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


@pytest.mark.parametrize("fn", [curie_filter, sanitize_labels, klid_weights])
def test_filters_reject_more_than_two_classes_in_their_own_words(fn, noisy_moons):
    X, y, _ = noisy_moons
    y3 = y.copy()
    y3[:5] = 2
    with pytest.raises(ValueError, match=f"{fn.__name__} is defined for two classes only") \
            as info:
        fn(X, y3)
    # the estimators' advice (wrap in OneVsRestClassifier) does not apply to a function
    assert "OneVsRestClassifier" not in str(info.value)


def test_one_class_left_gives_a_constant_classifier():
    X = np.c_[np.arange(30.0), np.zeros(30)]
    y = np.array(["a"] * 30)
    y[[5, 15, 25]] = "b"  # isolated: sanitization relabels all three
    with pytest.warns(UserWarning, match="predicts that class everywhere"):
        clf = LabelSanitizedSVC(k=6).fit(X, y)
    assert (clf.predict(X) == "a").all() and clf.support_.size == 0


# --- scikit-learn's estimator checks ---------------------------------------------------------

# Each defense changes the training problem as a function of the points themselves, so
# repeating a point is not the same as doubling its weight (sklearn lists the same check as
# an expected failure for SVC itself, whose libsvm solver is not weight/repeat-equivalent
# either). Beyond that: LNSVC's correction shrinks the kernel between a point and its copy
# (an off-diagonal pair) but not the diagonal; Curie's clusters, neighbours and z-scores
# count every copy; K-LID's copies sit at kernel distance 0 from each other, which drives
# the LID estimate; LabelSanitizedSVC's neighbour votes count every copy. The check passes
# for LabelSanitizedSVC only because its data (3 points of one class among 15, in 30
# features) sanitizes to a single class: both fits are constant, so it is not listed, and
# test_label_sanitization_counts_a_repeat_not_a_weight shows the difference.
_WEIGHT_EQUIVALENCE = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the defense is computed from the points, so a repeated point changes it while a "
        "weight does not (and SVC itself is an expected failure of this check)"
    ),
}


def _expected_failed_checks(est):
    return {} if isinstance(est, LabelSanitizedSVC) else _WEIGHT_EQUIVALENCE


# some checks fit one-class data on purpose; the defenses then warn and predict it
@pytest.mark.filterwarnings("ignore:.*predicts that class everywhere:UserWarning")
# the checks fit as few as 10 samples, fewer than the default k's neighbours: clipped
@pytest.mark.filterwarnings("ignore:.*neighbours need more than:UserWarning")
@parametrize_with_checks([LNSVC(), CurieSVC(), LabelSanitizedSVC(), KLIDSVC()],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_label_sanitization_counts_a_repeat_not_a_weight():
    """A point of weight 2 is outvoted by its 4 neighbours (4 of 4 >= eta) and relabelled;
    repeated, its copy is one of its neighbours (3 of 4 < eta) and it keeps its label."""
    X = np.r_[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5][:, None]
    y = np.array(["b"] + ["a"] * 5 + ["b"] * 6)
    w = np.ones(12)
    w[0] = 2.0
    weighted = LabelSanitizedSVC(k=4, eta=0.8).fit(X, y, sample_weight=w)
    repeated = LabelSanitizedSVC(k=4, eta=0.8).fit(np.r_[X[:1], X], np.r_[y[:1], y])
    assert weighted.y_sanitized_[0] == "a" and weighted.relabelled_.tolist() == [0]
    assert (repeated.y_sanitized_[:2] == "b").all() and repeated.relabelled_.size == 0
    grid = np.linspace(-1.0, 11.0, 25)[:, None]
    assert np.abs(weighted.decision_function(grid)
                  - repeated.decision_function(grid)).max() > 1e-3


@pytest.mark.parametrize("cls", [LabelSanitizedSVC, KLIDSVC])
def test_k_beyond_the_data_is_clipped_with_a_warning(cls, noisy_moons):
    X, y, _ = noisy_moons
    X, y = X[:30], y[:30]
    with pytest.warns(UserWarning, match=f"{cls.__name__}: k=60 neighbours need more than 60 "
                                         "samples, got n_samples=30; using k=29"):
        clipped = cls(k=60).fit(X, y)
    exact = cls(k=29).fit(X, y)
    np.testing.assert_array_equal(clipped.decision_function(X), exact.decision_function(X))
    # the functions, which have no default to outgrow, still refuse
    fn = sanitize_labels if cls is LabelSanitizedSVC else klid_weights
    with pytest.raises(ValueError, match="k=60 neighbours need more than 60 samples"):
        fn(X, y, k=60)


def test_pandas_string_labels_and_series_weights():
    pd = pytest.importorskip("pandas")
    X = np.c_[np.arange(30.0), np.zeros(30)]
    labels = np.array(["a"] * 30, dtype=object)
    labels[[5, 15, 25]] = "b"  # isolated: sanitization relabels all three, one class left
    y = pd.Series(labels, dtype="string")
    w = pd.Series(np.ones(30), index=np.arange(30)[::-1])
    with pytest.warns(UserWarning, match="has label 'a'; the fitted classifier predicts"):
        clf = LabelSanitizedSVC(k=6).fit(X, y, sample_weight=w)
    assert (clf.predict(X) == "a").all()
    for est in (LNSVC(), CurieSVC(), KLIDSVC(k=6)):
        fitted = est.fit(pd.DataFrame(X), y, sample_weight=w)
        plain = type(est)(**est.get_params()).fit(X, labels.astype(str))
        np.testing.assert_array_equal(fitted.predict(X), plain.predict(X))


_BADLY_SCALED = """
import warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from floral.defenses import CurieSVC
X = np.array([[1034.0], [-926.0], [-1047.0], [116.0], [1094.0]])
y = np.array([0, 1, 0, 0, 1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    CurieSVC(C=0.001, kernel="poly", gamma=0.1, degree=3, count=3, eps=0.1,
             min_samples=1).fit(X, y, sample_weight=[3.0, 2.5, 2.6, 2.5, 1.6])
print(sum("Solver terminated early" in str(w.message) for w in caught
          if issubclass(w.category, ConvergenceWarning)))
"""


def test_a_badly_scaled_kernel_stops_at_libsvms_iteration_cap(tmp_path):
    # found by tools/fuzz.py: a poly kernel of 1e3-sized features (values near 1e15) keeps
    # scikit-learn's libsvm (max_iter=-1) iterating for minutes on five points; the
    # defenses' SVC stops at LIBSVM's own kind of cap and says so
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _BADLY_SCALED], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)  # not the checkout
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= 1
