"""scikit-learn's common estimator checks on KMedians and KMedoids, every one of them.

About 100 cases: a whole module in tests/conftest.py's SLOW_MODULES, so the fast subset
does not even import scikit-learn's check suite (0.4 s) or run it (1 s).
"""
import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from imsim.cluster import KMedians, KMedoids


# No exclusion is needed. (scikit-learn itself skips its array-API input check unless
# SCIPY_ARRAY_API=1 and an array-API library are installed; imsim's estimators take numpy
# arrays only.)
def _expected_failed(estimator):
    return {}


@parametrize_with_checks([KMedians(), KMedoids()], expected_failed_checks=_expected_failed)
def test_sklearn_common_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty-cluster notes on tiny data
        check(estimator)
