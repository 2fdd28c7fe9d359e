"""Face data: face models, the WCPA-layout reader, the synthetic generator and the aligned crop cache."""
from trainers.data.cache import FaceCache, open_cache
from trainers.data.errors import CacheError, DataError, FaceModelError, LayoutError
from trainers.data.face_model import FaceModel, load_face_model

__all__ = ["open_cache", "FaceCache", "FaceModel", "load_face_model", "DataError", "CacheError",
           "FaceModelError", "LayoutError"]
