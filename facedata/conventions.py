"""The one owner of the WCPA camera and crop conventions: R_t, the OpenGL projection, pixel coordinates, the
OpenCV camera equivalent to it, and the 5-point similarity that maps a frame to its crop.

Row vectors throughout (wcpa_format.md): ``V_cam = V_world @ R + T`` with ``R = R_t[:3, :3]`` and
``T = R_t[3, :3]``; the camera looks down -z with y up; ``clip = [V_cam, 1] @ M``,
``x = (ndc_x + 1) * W / 2`` and ``y = H - (ndc_y + 1) * H / 2``. Pixel coordinates are continuous, with
the centre of pixel (i, j) at (i, j) as in OpenCV (warpAffine, remap, solvePnP): the renderer samples
pixel centres at integer coordinates, so mirroring a crop maps x to res - 1 - x.

OpenCV's camera looks down +z with y down: ``D = diag(1, -1, -1)`` converts, ``R = (D @ Rodrigues(rvec)).T``
and ``T = D @ tvec``.

Crops (JMLR): five points from the 68 landmarks, the two eye centres (mean of each eye's corners, robust to
blinks), the nose tip (30) and the mouth corners (48, 54), in image order (image-left eye first), are mapped
by a least-squares similarity (Umeyama) onto the insightface ArcFace 112x112 template, widened as JMLR
widens it: the template sits in a 144 x 144 canvas, offset by (16, 8), scaled to the crop. On the ARKit
mesh this keeps the whole face inside a 256 crop, hairline to chin and ear to ear: frontal it spans
x 58-197 and y 30-228, at 45 degrees of yaw x 19-159. A crop's 2x3 `tform` maps frame pixels to crop
pixels; predicted crop points go back to the frame through its inverse before PnP.
"""
from __future__ import annotations

import numpy as np

from facedata.errors import CameraError

# The challenge's projection matrix (row-vector form, 800x800): an OpenGL perspective matrix with the far
# plane at infinity (tweaked by epsilon, as ARKit writes it) and the near plane at 0.5 mm:
# M[0,0] = M[1,1] = 1 / tan(fov / 2) = 1.57443701 (fov 64.8 degrees, f = 629.77 px at 800 px),
# M[2,2] = -(1 - eps), M[2,3] = -1 (clip_w = -z_cam), M[3,2] = -2 * near.
WCPA_FOCAL_NDC = 1.57443701
WCPA_DEPTH_SCALE = -0.99999976
WCPA_NEAR_TERM = -0.001
WCPA_IMAGE_SIZE = (800, 800)
OPENCV_FLIP = np.diag([1.0, -1.0, -1.0])
"""`D`: WCPA's OpenGL camera (y up, looking down -z) <-> OpenCV's (y down, looking down +z)."""

ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])
CANVAS, SHIFT = 144.0, (16.0, 8.0)


# ---- camera ----------------------------------------------------------------------------------------------

def wcpa_projection() -> np.ndarray:
    """The challenge's 4x4 projection matrix (float64), written from its documented values."""
    m = np.zeros((4, 4))
    m[0, 0] = m[1, 1] = WCPA_FOCAL_NDC
    m[2, 2] = WCPA_DEPTH_SCALE
    m[2, 3] = -1.0
    m[3, 2] = WCPA_NEAR_TERM
    return m


def format_projection(m: np.ndarray) -> str:
    """The text of a projection_matrix.txt: four rows of four numbers, as the challenge writes them."""
    return "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in np.asarray(m, dtype=np.float64))


def to_camera(verts: np.ndarray, R_t: np.ndarray) -> np.ndarray:
    """World (..., V, 3) to camera space (..., V, 3) by R_t (..., 4, 4): ``V @ R + T``."""
    R_t = np.asarray(R_t)
    return np.asarray(verts) @ R_t[..., :3, :3] + R_t[..., None, 3, :3]


def project_camera(v_cam: np.ndarray, projection: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Camera-space points (..., V, 3) to image pixels (..., V, 2) through the 4x4 projection."""
    m = np.asarray(projection, dtype=np.float64)
    v_cam = np.asarray(v_cam, dtype=np.float64)
    clip = v_cam @ m[:3] + m[3]
    ndc = clip[..., :2] / clip[..., 3:4]
    w, h = image_size
    return np.stack([(ndc[..., 0] + 1.0) * (w / 2.0), h - (ndc[..., 1] + 1.0) * (h / 2.0)], axis=-1)


def project(verts_world: np.ndarray, R_t: np.ndarray, projection: np.ndarray,
            image_size: tuple[int, int]) -> np.ndarray:
    """World vertices (..., V, 3) posed by R_t (..., 4, 4) to pixels (..., V, 2) of a W x H image."""
    return project_camera(to_camera(verts_world, R_t), projection, image_size)


def check_projection(projection: np.ndarray) -> np.ndarray:
    """The projection as float64 after checking it is an OpenGL pinhole in row-vector form; CameraError if not."""
    m = np.asarray(projection, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise CameraError(f"projection matrix must be a finite 4x4 array, got shape {m.shape}")
    # a pinhole: w = -z, no skew, no x/y terms outside the focal and principal-point entries
    if not (np.allclose(m[:, 3], [0, 0, -1, 0], atol=1e-6) and abs(m[0, 1]) < 1e-9
            and abs(m[1, 0]) < 1e-9 and abs(m[3, 0]) < 1e-9 and abs(m[3, 1]) < 1e-9
            and m[0, 0] > 0 and m[1, 1] > 0):
        raise CameraError("projection matrix is not an OpenGL pinhole camera in row-vector form "
                          f"(expected w = -z and no skew): {m.tolist()}")
    return m


def intrinsics(projection: np.ndarray, image_size: tuple[int, int] = WCPA_IMAGE_SIZE) -> np.ndarray:
    """OpenCV's camera matrix K (3, 3) equivalent to `project` (for cv2.solvePnP / projectPoints).

    With `clip = [V_cam, 1] @ M` and `w = -z`: `f_x = M[0,0] W/2`, `f_y = M[1,1] H/2`,
    `c_x = W/2 (1 - M[2,0])`, `c_y = H/2 (1 + M[2,1])` (the centre when the offsets are zero).
    """
    m = check_projection(projection)
    w, h = (float(s) for s in image_size)
    return np.array([[m[0, 0] * w / 2.0, 0.0, (1.0 - m[2, 0]) * w / 2.0],
                     [0.0, m[1, 1] * h / 2.0, (1.0 + m[2, 1]) * h / 2.0],
                     [0.0, 0.0, 1.0]])


def rotvec_to_matrix(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3) (Rodrigues' formula)."""
    from scipy.spatial.transform import Rotation
    rvec = np.asarray(rvec, dtype=np.float64)
    return Rotation.from_rotvec(rvec.reshape(-1, 3)).as_matrix().reshape(rvec.shape[:-1] + (3, 3))


def opencv_pose(R_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A WCPA R_t (4, 4) as OpenCV's (rvec (3,), tvec (3,)): the camera with y down and z forward."""
    from scipy.spatial.transform import Rotation
    R_t = np.asarray(R_t, dtype=np.float64)
    rvec = Rotation.from_matrix(OPENCV_FLIP @ R_t[:3, :3].T).as_rotvec()
    return rvec, OPENCV_FLIP @ R_t[3, :3]


def wcpa_pose(rot_cv: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """WCPA R_t (..., 4, 4) of OpenCV rotations (..., 3, 3) and translations (..., 3): the inverse of
    `opencv_pose`."""
    rot_cv, tvec = np.asarray(rot_cv, dtype=np.float64), np.asarray(tvec, dtype=np.float64)
    out = np.zeros(rot_cv.shape[:-2] + (4, 4))
    out[..., :3, :3] = np.swapaxes(OPENCV_FLIP @ rot_cv, -1, -2)
    out[..., 3, :3] = tvec.reshape(rot_cv.shape[:-2] + (3,)) @ OPENCV_FLIP
    out[..., 3, 3] = 1.0
    return out


def pose_to_rt(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """R_t (..., 4, 4) float64 from Euler angles in radians and T (..., 3), the WCPA 'yxz' convention."""
    from scipy.spatial.transform import Rotation
    angles = np.stack(np.broadcast_arrays(yaw, pitch, roll), axis=-1)
    shape = angles.shape[:-1]
    rot = Rotation.from_euler("yxz", angles.reshape(-1, 3)).as_matrix().transpose(0, 2, 1)
    out = np.zeros((int(np.prod(shape, dtype=np.int64)), 4, 4))
    out[:, :3, :3] = rot
    out[:, 3, :3] = np.broadcast_to(translation, shape + (3,)).reshape(-1, 3)
    out[:, 3, 3] = 1.0
    return out.reshape(shape + (4, 4))


def rt_to_pose(R_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pose_to_rt`: ((..., 3) yaw, pitch, roll in radians, (..., 3) translation)."""
    from scipy.spatial.transform import Rotation
    R_t = np.asarray(R_t, dtype=np.float64)
    shape = R_t.shape[:-2]
    rot = np.swapaxes(R_t[..., :3, :3], -1, -2).reshape(-1, 3, 3)
    angles = Rotation.from_matrix(rot).as_euler("yxz").reshape(shape + (3,))
    return angles, R_t[..., 3, :3]


# ---- crop ------------------------------------------------------------------------------------------------

def template(res: int, canvas: float = CANVAS, shift: tuple[float, float] = SHIFT) -> np.ndarray:
    """The 5-point destination (5, 2) float64 for a res x res crop."""
    return (ARCFACE_112 + np.asarray(shift)) * (res / canvas)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """(..., 5, 2) eye centres, nose tip and mouth corners from (..., 68, 2) iBUG landmarks."""
    p = np.asarray(landmarks68, dtype=np.float64)
    return np.stack([0.5 * (p[..., 36, :] + p[..., 39, :]), 0.5 * (p[..., 42, :] + p[..., 45, :]),
                     p[..., 30, :], p[..., 48, :], p[..., 54, :]], axis=-2)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transforms (..., 2, 3) mapping src (..., n, 2) onto dst (n, 2) (Umeyama)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.broadcast_to(np.asarray(dst, dtype=np.float64), src.shape)
    ms, md = src.mean(-2, keepdims=True), dst.mean(-2, keepdims=True)
    s, d = src - ms, dst - md
    # with complex numbers a 2D similarity is z -> a z + b and the least-squares a is <d, s> / |s|^2
    zs, zd = s[..., 0] + 1j * s[..., 1], d[..., 0] + 1j * d[..., 1]
    a = (np.conj(zs) * zd).sum(-1) / np.maximum((np.abs(zs) ** 2).sum(-1), 1e-12)
    out = np.empty(src.shape[:-2] + (2, 3))
    out[..., 0, 0], out[..., 0, 1] = a.real, -a.imag
    out[..., 1, 0], out[..., 1, 1] = a.imag, a.real
    out[..., :, 2] = md[..., 0, :] - np.einsum("...ij,...j->...i", out[..., :, :2], ms[..., 0, :])
    return out


def align_tforms(landmarks68: np.ndarray, res: int) -> np.ndarray:
    """The crop transforms (..., 2, 3) float64 from the frame to a res x res crop."""
    return similarity(five_points(landmarks68), template(res))


def apply_tform(tform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., V, 2) mapped by affine transforms (..., 2, 3) (frame to crop, for a crop's `tform`)."""
    tform = np.asarray(tform, dtype=np.float64)
    return np.einsum("...ij,...vj->...vi", tform[..., :, :2], np.asarray(points, dtype=np.float64)) \
        + tform[..., None, :, 2]


def invert_tform(tform: np.ndarray) -> np.ndarray:
    """The inverse affine transforms (..., 2, 3) (crop back to the frame)."""
    tform = np.asarray(tform, dtype=np.float64)
    inv = np.linalg.inv(tform[..., :, :2])
    return np.concatenate([inv, -np.einsum("...ij,...j->...i", inv, tform[..., :, 2])[..., None]], -1)


def crop_to_frame(points: np.ndarray, tform: np.ndarray) -> np.ndarray:
    """Crop pixels (..., V, 2) back to frame pixels through the inverse of each crop's `tform`."""
    points, tform = np.asarray(points, dtype=np.float64), np.asarray(tform, dtype=np.float64)
    inv = np.linalg.inv(tform[..., :, :2])
    return np.matmul(points - tform[..., None, :, 2], np.swapaxes(inv, -1, -2))  # matmul: 3x einsum's speed


def warp(image: np.ndarray, tform: np.ndarray, res: int) -> np.ndarray:
    """The res x res crop of an image by a 2x3 transform (bilinear, black outside the frame)."""
    import cv2
    return cv2.warpAffine(image, np.asarray(tform, dtype=np.float64), (res, res), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
