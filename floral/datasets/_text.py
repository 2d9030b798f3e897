"""A synthetic labelled text corpus for the sparse TF-IDF path."""
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._validation import (
    NON_NEGATIVE,
    RANDOM_STATE,
)


@validate_params({"n_documents": [Interval(Integral, 2, None, closed="left")],
                  "n_terms": [Interval(Integral, 2, None, closed="left")],
                  "n_classes": [Interval(Integral, 2, None, closed="left")],
                  "document_length": [Interval(Real, 1, None, closed="left")],
                  "zipf_exponent": [Interval(Real, 0, None, closed="left")],
                  "informative_fraction": [Interval(Real, 0, 1, closed="both")],
                  "class_sep": NON_NEGATIVE, "as_text": ["boolean"],
                  "random_state": RANDOM_STATE}, prefer_skip_nested_validation=True)
def make_text_corpus(n_documents=2000, n_terms=5000, *, n_classes=2, document_length=150,
                     zipf_exponent=1.07, informative_fraction=0.1, class_sep=1.0,
                     as_text=False, random_state=None):
    r"""A synthetic labelled text corpus: Zipf-distributed words with class-dependent
    frequencies, a stand-in for review sentiment data where no corpus can be downloaded.

    Term :math:`t` (rank :math:`t = 0, 1, \ldots`) has base frequency
    :math:`\propto (t + 1)^{-a}` (Zipf's law, ``zipf_exponent`` :math:`a`). A random
    ``informative_fraction`` of the terms carries the class: in class :math:`c` the
    frequency of informative term :math:`t` is multiplied by
    :math:`e^{s\,u_{ct}}` with :math:`u_{ct}` uniform in :math:`[-1, 1]` and
    :math:`s` = ``class_sep`` (0: the classes share one distribution). Each document draws
    its class uniformly, a length from a Poisson law of mean ``document_length`` (at least
    one word) and its words independently from its class's distribution.

    Parameters
    ----------
    n_documents : int, default=2000
        Documents, >= 2.
    n_terms : int, default=5000
        Vocabulary size, >= 2.
    n_classes : int, default=2
        Classes, >= 2.
    document_length : float, default=150
        Mean words per document (about 100 distinct terms per document with a
        50,000-term vocabulary; TF-IDF + LinearSVC then scores about 0.86 on 20,000
        documents at the other defaults).
    zipf_exponent : float, default=1.07
        Exponent of the base frequencies.
    informative_fraction : float in [0, 1], default=0.1
        Share of the vocabulary whose frequency depends on the class.
    class_sep : float, default=1.0
        Largest log-frequency shift of an informative term.
    as_text : bool, default=False
        Return documents as strings of words ``"w<rank>"`` separated by spaces (for
        ``TfidfVectorizer``) instead of a count matrix.
    random_state : int, RandomState instance or None, default=None
        Seeds the vocabulary, the classes and the words.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_documents, n_terms), or list of str
        Word counts (float64), or the documents as text with ``as_text=True``.
    y : ndarray of shape (n_documents,)
        Class of each document, 0 .. n_classes - 1.

    Examples
    --------
    >>> from floral.datasets import make_text_corpus
    >>> X, y = make_text_corpus(200, 1000, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 1000), [0, 1])
    >>> docs, _ = make_text_corpus(3, 50, document_length=4, as_text=True, random_state=0)
    >>> all(w.startswith("w") for d in docs for w in d.split())
    True
    """
    rng = check_random_state(random_state)
    n, d = int(n_documents), int(n_terms)
    base = -zipf_exponent * np.log(np.arange(1, d + 1, dtype=np.float64))
    informative = rng.random_sample(d) < informative_fraction
    y = rng.randint(0, int(n_classes), size=n)
    lengths = np.maximum(1, rng.poisson(document_length, size=n))
    doc = np.repeat(np.arange(n), lengths)
    words = np.empty(doc.size, dtype=np.int64)
    for c in range(int(n_classes)):
        logp = base + np.where(informative, class_sep * rng.uniform(-1, 1, size=d), 0.0)
        cdf = np.cumsum(np.exp(logp - logp.max()))
        mine = y[doc] == c
        # inverse transform sampling: one uniform per word, one sorted search each
        u = rng.random_sample(int(mine.sum())) * cdf[-1]
        words[mine] = np.minimum(np.searchsorted(cdf, u, side="right"), d - 1)
    if as_text:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        names = np.char.add("w", np.arange(d).astype(str))
        return [" ".join(names[words[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])], y
    X = sp.csr_matrix((np.ones(doc.size), (doc, words)), shape=(n, d))
    X.sum_duplicates()
    return X, y
