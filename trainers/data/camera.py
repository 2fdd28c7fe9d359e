"""The one owner of the WCPA camera convention: R_t, the OpenGL projection and pixel coordinates.

Row vectors throughout (wcpa_format.md): ``V_cam = V_world @ R + T`` with ``R = R_t[:3, :3]`` and
``T = R_t[3, :3]``; the camera looks down -z with y up; ``clip = [V_cam, 1] @ M``,
``x = (ndc_x + 1) * W / 2`` and ``y = H - (ndc_y + 1) * H / 2``. Pixel coordinates are continuous, with
the centre of pixel (i, j) at (i, j) as in OpenCV (warpAffine, remap, solvePnP): the renderer samples
pixel centres at integer coordinates, so mirroring a crop maps x to res - 1 - x.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# The challenge's projection matrix (row-vector form, 800x800): an OpenGL perspective matrix with the far
# plane at infinity (tweaked by epsilon, as ARKit writes it) and the near plane at 0.5 mm:
# M[0,0] = M[1,1] = 1 / tan(fov / 2) = 1.57443701 (fov 64.8 degrees, f = 629.77 px at 800 px),
# M[2,2] = -(1 - eps), M[2,3] = -1 (clip_w = -z_cam), M[3,2] = -2 * near.
WCPA_FOCAL_NDC = 1.57443701
WCPA_DEPTH_SCALE = -0.99999976
WCPA_NEAR_TERM = -0.001
WCPA_IMAGE_SIZE = (800, 800)


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


def intrinsics(projection: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The OpenCV camera matrix K (3, 3) equivalent to `project` (for cv2.solvePnP / projectPoints)."""
    m = np.asarray(projection, dtype=np.float64)
    w, h = image_size
    # x = (f x_c / -z_c + 1) W/2 and y = H - (f y_c / -z_c + 1) H/2; in OpenCV's camera (y, z negated)
    # that is x = fx X/Z + W/2, y = fy Y/Z + H/2 (plus the matrix's off-centre terms, zero for WCPA).
    return np.array([[m[0, 0] * w / 2.0, 0.0, (1.0 - m[2, 0]) * w / 2.0],
                     [0.0, m[1, 1] * h / 2.0, (1.0 + m[2, 1]) * h / 2.0],
                     [0.0, 0.0, 1.0]])


def opencv_pose(R_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A WCPA R_t (4, 4) as OpenCV's (rvec (3,), tvec (3,)): the camera with y down and z forward."""
    flip = np.diag([1.0, -1.0, -1.0])
    R_cv = flip @ np.asarray(R_t, dtype=np.float64)[:3, :3].T
    rvec = Rotation.from_matrix(R_cv).as_rotvec()
    return rvec, flip @ np.asarray(R_t, dtype=np.float64)[3, :3]


def pose_to_rt(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """R_t (..., 4, 4) float64 from Euler angles in radians and T (..., 3), the WCPA 'yxz' convention."""
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
    R_t = np.asarray(R_t, dtype=np.float64)
    shape = R_t.shape[:-2]
    rot = np.swapaxes(R_t[..., :3, :3], -1, -2).reshape(-1, 3, 3)
    angles = Rotation.from_matrix(rot).as_euler("yxz").reshape(shape + (3,))
    return angles, R_t[..., 3, :3]
