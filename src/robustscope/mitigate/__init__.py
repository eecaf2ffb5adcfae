"""robustscope.mitigate: methods that make a model more robust, saved as models ``load_model("file:…")`` reads.

- DFR (Deep Feature Reweighting, Kirichenko et al., ICLR 2023): :func:`dfr_mitigate` refits a model's last layer
  on group-balanced validation features (:func:`~robustscope.mitigate.dfr.fit_dfr`); see ``docs/mitigations.md``.
- LLE (Last Layer Ensemble, Li et al., CVPR 2023): :func:`~robustscope.mitigate.lle.fit_lle`; last-layer baselines
  (ERM, group-balanced, GroupDRO, JTT) in :mod:`robustscope.mitigate.last_layer`.
- Last-layer retraining for geography (Richards et al. 2023): :func:`geography_last_layer` on a
  :func:`region_balanced_house_separated` set (:mod:`robustscope.mitigate.geography`).
- :func:`save_mitigated`: a new head over a base model's features, fingerprinted against the base.
- From a model and data to a saved model: :func:`lle_mitigate` (augmentations as datasets, e.g.
  :func:`materialise_urbancars_aug`, or shifts) and :func:`last_layer_mitigate` (erm, group-balanced, groupdro, jtt).
"""

from robustscope.mitigate.dfr import DFRResult, fit_dfr
from robustscope.mitigate.geography import geography_last_layer, region_balanced_house_separated
from robustscope.mitigate.last_layer import LastLayerConfig, fit_erm, fit_group_balanced, fit_group_dro, fit_jtt
from robustscope.mitigate.lle import LLEResult, fit_lle
from robustscope.mitigate.pipeline import dfr_mitigate, groups_of
from robustscope.mitigate.retrain import last_layer_mitigate, lle_mitigate
from robustscope.mitigate.saved import save_mitigated
from robustscope.mitigate.urbancars_aug import materialise_urbancars_aug

__all__ = ["DFRResult", "LLEResult", "LastLayerConfig", "dfr_mitigate", "fit_dfr", "fit_erm", "fit_group_balanced",
           "fit_group_dro", "fit_jtt", "fit_lle", "geography_last_layer", "groups_of", "last_layer_mitigate",
           "lle_mitigate", "materialise_urbancars_aug",
           "region_balanced_house_separated", "save_mitigated"]  # fmt: skip
