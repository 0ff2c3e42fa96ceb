"""One file per feature backbone; :data:`BUILTIN` is the one place that lists them.

Adding a backbone (e.g. DINOv2): write ``backends/<name>.py`` with its
``load`` (and ``fetch`` if it downloads weights) and a ``SPEC``, and add the
SPEC to BUILTIN. Nothing else changes: competition.yaml validation,
``easel evaluate``, ``easel weights fetch|list``, the reference cache and the
result record all go through :data:`evaluator.features.BACKBONES`.
"""

from __future__ import annotations

from . import convnet, inception_fid, keras_imagenet, lpips_alex, random_inception, vit_backbones

BUILTIN = (inception_fid.SPEC, keras_imagenet.SPEC, random_inception.SPEC, convnet.SPEC, lpips_alex.SPEC,
           lpips_alex.STANDIN_SPEC, vit_backbones.DINOV2_SPEC, vit_backbones.CLIP_SPEC, *vit_backbones.STANDIN_SPECS)
