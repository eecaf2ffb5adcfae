"""robustscope.studies: experiments that train, mitigate and evaluate many models, run with ``robustscope study``.

A study is one module holding one :class:`Study` record (its command-line arguments and what it runs) and one
registration line in :data:`STUDIES`: ``robustscope study NAME --help`` lists its options. Studies sit above the
suites, trainers and mitigations they combine (floor 11), and write their tables as CSV and Markdown so that a
closing note or the docs can quote the exact figures with the exact command.
"""

from robustscope.studies.base import STUDIES, Study, register_study

__all__ = ["STUDIES", "Study", "register_study"]

# One line per study (the module holds its Study record).
register_study("geography", "robustscope.studies.geography:STUDY", "last-layer retraining vs region disparity")
register_study("whac-a-mole", "robustscope.studies.whac_a_mole:STUDY", "Whac-A-Mole table on synthetic UrbanCars")
register_study("mixing", "robustscope.studies.mixing:STUDY", "narrow data + a fraction of diverse renders; axes vs p")
register_study("progress-gap", "robustscope.studies.capacity:STUDY", "capacity family: effective robustness, gap")
register_study("lie", "robustscope.studies.lie:STUDY", "SimCLR with/without a Lie operator on unseen poses")
register_study("diversity", "robustscope.studies.diversity:STUDY", "share of varied training data vs generalisation")
register_study("disentangle", "robustscope.studies.disentangle:STUDY", "β-VAE vs HFS on correlated factors")
