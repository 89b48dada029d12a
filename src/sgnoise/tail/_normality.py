"""Gaussianity tests: D'Agostino–Pearson and Jarque–Bera from central moments (of a sample or of
every column), and the column omnibus over many columns with their own location and scale.
"""

from __future__ import annotations

import math

import numpy as np

from sgnoise.tail._samples import NORMALITY_TESTS, ZERO_POLICIES, prepare_sample


def central_moments(x: np.ndarray):
    """(n, mean, m2, m3, m4) with m_p = (1/n) Σ (x − mean)^p, along axis 0 (x 1-D or 2-D)."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    centred = x - mean
    squared = centred * centred
    return n, mean, squared.mean(axis=0), (squared * centred).mean(axis=0), (squared * squared).mean(axis=0)


def normality_from_moments(n, m2, m3, m4, test: str = "dagostino"):
    """(statistic, p-value) of a moment-based normality test, vectorised over arrays of moments.

    ``dagostino``: D'Agostino–Pearson K² = Z(√b1)² + Z(b2)², skewness transform of D'Agostino (1970)
    and kurtosis transform of Anscombe & Glynn (1983), K² ~ χ²₂ (needs n ≥ 8; best n ≥ 20).
    ``jarque_bera``: JB = n/6 (S² + (K − 3)²/4) ~ χ²₂ (Jarque & Bera 1980).
    """
    if test not in NORMALITY_TESTS:
        raise ValueError(f"unknown normality test {test!r}; expected one of {', '.join(NORMALITY_TESTS)}")
    n = np.asarray(n, dtype=np.float64)
    m2, m3, m4 = (np.asarray(v, dtype=np.float64) for v in (m2, m3, m4))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        skewness = np.where(m2 > 0, m3 / m2**1.5, np.nan)
        kurtosis = np.where(m2 > 0, m4 / m2**2, np.nan)
        if test == "jarque_bera":
            statistic = n / 6.0 * (skewness**2 + (kurtosis - 3.0) ** 2 / 4.0)
        else:
            if np.any(n < 8):
                raise ValueError("the D'Agostino–Pearson test needs at least 8 samples")
            y = skewness * np.sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)))
            beta2 = 3.0 * (n**2 + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
            w2 = -1 + np.sqrt(2 * (beta2 - 1))
            delta = 1 / np.sqrt(0.5 * np.log(w2))
            scale = np.sqrt(2 / (w2 - 1))
            z_skew = delta * np.arcsinh(y / scale)
            expected = 3.0 * (n - 1) / (n + 1)
            variance = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5))
            standardised = (kurtosis - expected) / np.sqrt(variance)
            root_beta1 = (6.0 * (n**2 - 5 * n + 2) / ((n + 7) * (n + 9))
                          * np.sqrt(6.0 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3))))
            a = 6.0 + 8.0 / root_beta1 * (2.0 / root_beta1 + np.sqrt(1 + 4.0 / root_beta1**2))
            denominator = 1 + standardised * np.sqrt(2 / (a - 4.0))
            cube = np.sign(denominator) * np.cbrt((1 - 2.0 / a) / np.abs(denominator))
            z_kurtosis = (1 - 2.0 / (9 * a) - cube) / np.sqrt(2 / (9 * a))
            statistic = z_skew**2 + z_kurtosis**2
        pvalue = np.exp(-statistic / 2)  # χ²₂ survival function
    if statistic.ndim == 0:
        return float(statistic), float(pvalue)
    return statistic, pvalue


def gaussian_moment_null(n):
    """Exact mean and variance, under i.i.d. Gaussian sampling of n values, of the sample skewness
    g1 = m3/m2^1.5 and kurtosis b2 = m4/m2² (m_p central moments with 1/n): E g1 = 0,
    Var g1 = 6(n−2)/((n+1)(n+3)), E b2 = 3(n−1)/(n+1), Var b2 = 24n(n−2)(n−3)/((n+1)²(n+3)(n+5))
    (Fisher 1930; Pearson 1931). Returns (var_g1, mean_b2, var_b2), vectorised over n."""
    n = np.asarray(n, dtype=np.float64)
    return (6.0 * (n - 2) / ((n + 1) * (n + 3)), 3.0 * (n - 1) / (n + 1),
            24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5)))


COLUMN_TEST_MINIMUM = 8  # columns with fewer (non-zero) samples take no part in the column omnibus


def column_omnibus(counts, m2, m3, m4):
    """Omnibus Gaussianity test over many columns, each with its own location and scale.

    H0: every column is an i.i.d. Gaussian sample (any mean, any variance), columns independent.
    Each column's skewness g1_j and kurtosis b2_j are location- and scale-free, so dividing a column
    by any scale (the normalised view) or centring it (rows of a zero-sum partition) leaves them
    unchanged. With the exact finite-n null moments of ``gaussian_moment_null`` (n_j = the column's
    sample count, so zero patterns are allowed)
    Z_s = Σ g1_j / √(Σ Var g1(n_j)),  Z_k = Σ (b2_j − E b2(n_j)) / √(Σ Var b2(n_j)),
    K² = Z_s² + Z_k² → χ²₂ as the number of columns grows (central limit theorem over columns;
    g1 and b2 are uncorrelated under H0). Columns with fewer than ``COLUMN_TEST_MINIMUM`` samples or
    zero variance are left out. Returns (K², p-value, number of columns used); NaN without columns.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m2, m3, m4 = (np.asarray(v, dtype=np.float64) for v in (m2, m3, m4))
    usable = (counts >= COLUMN_TEST_MINIMUM) & (m2 > 0) & np.isfinite(m2) & np.isfinite(m3) & np.isfinite(m4)
    if not usable.any():
        return np.nan, np.nan, 0
    n, m2, m3, m4 = counts[usable], m2[usable], m3[usable], m4[usable]
    var_g1, mean_b2, var_b2 = gaussian_moment_null(n)
    z_skew = np.sum(m3 / m2**1.5) / math.sqrt(np.sum(var_g1))
    z_kurtosis = np.sum(m4 / m2**2 - mean_b2) / math.sqrt(np.sum(var_b2))
    statistic = float(z_skew**2 + z_kurtosis**2)
    return statistic, float(math.exp(-statistic / 2)), int(usable.sum())


def column_moments(matrix, zeros: str = "exclude"):
    """(counts, m2, m3, m4) of every column of a (samples × coordinates) matrix, central moments with
    1/n about the column mean; with ``zeros="exclude"`` each column's exact zeros are left out."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (samples × coordinates), got shape {matrix.shape}")
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    if zeros == "keep" and np.any(matrix == 0):
        raise ValueError("matrix contains exact zeros and zeros='keep' (use zeros='exclude')")
    if zeros == "keep" or np.all(matrix != 0):
        _, _, m2, m3, m4 = central_moments(matrix)
        return np.full(matrix.shape[1], matrix.shape[0]), m2, m3, m4
    mask = matrix != 0
    counts = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = matrix.sum(axis=0) / counts
        centred = np.where(mask, matrix - mean, 0.0)
        squared = centred * centred
        return (counts, squared.sum(axis=0) / counts, (squared * centred).sum(axis=0) / counts,
                (squared * squared).sum(axis=0) / counts)


def normality_test(x, test: str = "dagostino", zeros: str = "exclude"):
    """(statistic, p-value) of a normality test of the sample ``x`` (see ``normality_from_moments``)."""
    sample = prepare_sample(x, zeros)
    n, _, m2, m3, m4 = central_moments(sample)
    return normality_from_moments(n, m2, m3, m4, test)


def normality_per_column(matrix, test: str = "dagostino", zeros: str = "exclude"):
    """Per-column (statistic, p-value) arrays; with ``zeros="exclude"`` each column drops its zeros.
    Columns with fewer than 8 samples (or constant ones) get NaN."""
    counts, *moments = column_moments(matrix, zeros)
    usable = counts >= COLUMN_TEST_MINIMUM
    statistic = np.full(counts.size, np.nan)
    pvalue = np.full(counts.size, np.nan)
    if usable.any():
        s, p = normality_from_moments(counts[usable], *(m[usable] for m in moments), test=test)
        statistic[usable], pvalue[usable] = s, p
    return statistic, pvalue
