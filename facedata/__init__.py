"""Face data: face models, the WCPA-layout reader, the synthetic generator and the aligned crop cache."""
from facedata.cache import FaceCache, open_cache
from facedata.errors import CacheError, DataError, FaceModelError, LayoutError
from facedata.face_model import FaceModel, load_face_model

__all__ = ["open_cache", "FaceCache", "FaceModel", "load_face_model", "DataError", "CacheError",
           "FaceModelError", "LayoutError"]
