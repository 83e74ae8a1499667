"""Deployment profiles from the valid set (``shapealg profile``).

    from shapealg.profile import profile
    r = profile("model.onnx", ranges={"H": (224, 1024)}, opt={"H": 640, "W": 640}, memory_limit=8 * 2**30)
    r.profiles                     # min / opt / max per dynamic size, every one valid; r.left_out: parts not given
    print(r.trtexec())             # --minShapes/--optShapes/--maxShapes, one command per profile
    r.onnxruntime_tensorrt()       # {"trt_profile_min_shapes": ..., ...}
    r.openvino(0), r.torch_export(0), r.to_json()
    r.prepare({"H": 500, "W": 375})  # pad / resize-pad / crop to a valid size, with torch and numpy code
    check_profiles(r)              # onnxruntime at every min / opt / max and sampled sizes (valid and invalid)

Modules, one idea each: ``parts`` (the valid set inside a box as parts), ``profiles`` (the profiles and the
report), ``memory`` (memory at the max, the largest max under a limit), ``syntax`` (each runtime's syntax and
its parser), ``prepare`` (input preparation), ``check`` (running them), ``text`` (text / markdown).
"""
from .check import CheckedSize, ProfileCheck, check_profiles
from .memory import fmt_bytes, parse_bytes
from .parts import DimRange, Part
from .prepare import POLICIES, Preparation, next_valid_code, prepare_input
from .profiles import DEFAULT_MAX_PROFILES, InputSpec, Profile, ProfileReport, profile

__all__ = ["profile", "ProfileReport", "Profile", "DimRange", "Part", "InputSpec", "DEFAULT_MAX_PROFILES",
           "check_profiles", "ProfileCheck", "CheckedSize", "prepare_input", "Preparation", "POLICIES",
           "next_valid_code", "parse_bytes", "fmt_bytes"]
