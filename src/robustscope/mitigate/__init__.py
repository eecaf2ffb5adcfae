"""robustscope.mitigate: methods that make a model more robust, saved as models ``load_model("file:…")`` reads.

- DFR (Deep Feature Reweighting, Kirichenko et al., ICLR 2023): :func:`dfr_mitigate` refits a model's last layer
  on group-balanced validation features (:func:`~robustscope.mitigate.dfr.fit_dfr`); see ``docs/mitigations.md``.
- :func:`save_mitigated`: a new head over a base model's features, fingerprinted against the base.
"""

from robustscope.mitigate.dfr import DFRResult, fit_dfr
from robustscope.mitigate.pipeline import dfr_mitigate, groups_of
from robustscope.mitigate.saved import save_mitigated

__all__ = ["DFRResult", "dfr_mitigate", "fit_dfr", "groups_of", "save_mitigated"]
