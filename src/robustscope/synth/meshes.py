"""Procedural triangle meshes for the synthetic world's shape classes, built in numpy.

Every mesh is centred on the origin and scaled so that its bounding sphere has radius 1, so the
``scale`` factor means the same thing for every class. Meshes carry per-vertex normals and UVs
(the procedural textures are mapped through the UVs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class MeshData:
    """A triangle mesh: ``positions [V,3]``, ``normals [V,3]``, ``uvs [V,2]`` (float32), ``faces [F,3]``."""

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray

    @property
    def n_vertices(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])


_Piece = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]  # positions, faces, uvs, normals


def _grid_faces(nu: int, nv: int) -> np.ndarray:
    """Two triangles per cell of an (nv+1) x (nu+1) vertex grid."""
    j, i = np.meshgrid(np.arange(nv), np.arange(nu), indexing="ij")
    a = (j * (nu + 1) + i).ravel()
    b, c = a + 1, a + nu + 1
    d = c + 1
    return np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)]).astype(np.int64)


def _parametric(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], nu: int, nv: int) -> _Piece:
    """A smooth surface patch ``fn(u, v) -> [.., 3]`` over the unit square; normals are welded later."""
    u, v = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1))
    positions = fn(u, v).reshape(-1, 3)
    uvs = np.stack([u, v], -1).reshape(-1, 2)
    return positions, _grid_faces(nu, nv), uvs, None


def _flat_polygon(points: np.ndarray, hint: np.ndarray | None = None) -> _Piece:
    """A planar polygon, star-shaped about its centroid, fanned from the centroid.

    The normal is turned to point along ``hint`` (default: away from the origin, right for convex solids).
    """
    centre = points.mean(0)
    positions = np.concatenate([centre[None], points])
    k = len(points)
    faces = np.stack([np.zeros(k, int), 1 + np.arange(k), 1 + (np.arange(k) + 1) % k], 1)
    normal = np.cross(points[1] - points[0], points[2] - points[0])
    if np.linalg.norm(normal) < 1e-9:  # first three points collinear: use the fan's first triangle
        normal = np.cross(points[0] - centre, points[1] - centre)
    normal = normal / np.linalg.norm(normal)
    if normal @ (centre if hint is None else hint) < 0:
        normal = -normal
    # Planar UVs in the polygon's own frame, so every face shows the whole texture once.
    axis_u = points[0] - centre
    axis_u = axis_u / (np.linalg.norm(axis_u) + 1e-12)
    axis_v = np.cross(normal, axis_u)
    local = np.stack([(positions - centre) @ axis_u, (positions - centre) @ axis_v], 1)
    extent = np.abs(local).max() + 1e-12
    uvs = 0.5 + 0.5 * local / extent
    return positions, faces, uvs, np.repeat(normal[None], len(positions), 0)


def _quad(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, hint: np.ndarray | None = None) -> _Piece:
    """A flat quad p0-p1-p2-p3 with the full UV square; normal oriented like :func:`_flat_polygon`."""
    positions = np.stack([p0, p1, p2, p3])
    normal = np.cross(p1 - p0, p3 - p0)
    normal = normal / np.linalg.norm(normal)
    if normal @ (positions.mean(0) if hint is None else hint) < 0:
        normal = -normal
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    return positions, np.array([[0, 1, 2], [0, 2, 3]]), uvs, np.repeat(normal[None], 4, 0)


def _weld_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals, shared between vertices at the same place (UV seams, poles)."""
    tri = positions[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    _, key = np.unique(np.round(positions, 5), axis=0, return_inverse=True)
    key = key.ravel()
    acc = np.zeros((key.max() + 1, 3))
    for corner in range(3):
        np.add.at(acc, key[faces[:, corner]], face_n)
    normals = acc[key]
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    # Degenerate spots (cone apex seen by zero-area faces) fall back to the radial direction.
    radial = positions / (np.linalg.norm(positions, axis=1, keepdims=True) + 1e-12)
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), radial)
    # The grid's winding is arbitrary; closed patches must face away from their centre.
    if (normals * (positions - positions.mean(0))).sum() < 0:
        normals = -normals
    return normals


def _assemble(pieces: list[_Piece]) -> MeshData:
    """Concatenate pieces, orient every face to agree with its normals, normalise to the unit sphere."""
    all_p, all_f, all_uv, all_n = [], [], [], []
    offset = 0
    for positions, faces, uvs, normals in pieces:
        if normals is None:
            normals = _weld_normals(positions, faces)
        all_p.append(positions)
        all_f.append(faces + offset)
        all_uv.append(uvs)
        all_n.append(normals)
        offset += len(positions)
    positions = np.concatenate(all_p)
    faces = np.concatenate(all_f)
    normals = np.concatenate(all_n)
    uvs = np.concatenate(all_uv)
    # Drop zero-area triangles (grid rows collapsed at poles and apexes).
    tri = positions[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(face_n, axis=1)
    keep = area > 1e-10
    faces, face_n = faces[keep], face_n[keep]
    # Winding must agree with the shading normals or Mitsuba shades the face as its back side.
    flip = (face_n * normals[faces].sum(1)).sum(1) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    lo, hi = positions.min(0), positions.max(0)
    positions = positions - (lo + hi) / 2
    positions = positions / np.linalg.norm(positions, axis=1).max()
    return MeshData(
        positions.astype(np.float32),
        normals.astype(np.float32),
        uvs.astype(np.float32),
        faces.astype(np.uint32),
    )


def _sphere_fn(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    theta, phi = u * 2 * np.pi, v * np.pi
    return np.stack([np.sin(phi) * np.cos(theta), np.cos(phi), np.sin(phi) * np.sin(theta)], -1)


def _ring_points(n: int, radius: float, y: float, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([radius * np.cos(angles), np.full(n, y), radius * np.sin(angles)], 1)


def _prism(profile: np.ndarray, height: float) -> list[_Piece]:
    """Extrude a closed XZ profile (counter-clockwise seen from +Y) into a flat-sided prism."""
    k = len(profile)
    bottom = np.stack([profile[:, 0], np.full(k, -height / 2), profile[:, 1]], 1)
    top = bottom + np.array([0, height, 0])
    up = np.array([0.0, 1.0, 0.0])
    pieces = [_flat_polygon(top, up), _flat_polygon(bottom, -up)]
    x, z = profile[:, 0], profile[:, 1]
    ccw = (x * np.roll(z, -1) - np.roll(x, -1) * z).sum() > 0
    for i in range(k):
        j = (i + 1) % k
        dx, dz = profile[j] - profile[i]
        # Outward edge normal in the XZ plane, whichever way the profile runs.
        out = np.array([dz, 0.0, -dx]) * (1 if ccw else -1)
        pieces.append(_quad(bottom[i], bottom[j], top[j], top[i], out))
    return pieces


def _sphere() -> MeshData:
    return _assemble([_parametric(_sphere_fn, 36, 18)])


def _cube() -> MeshData:
    s = 1.0
    corners = np.array([[x, y, z] for x in (-s, s) for y in (-s, s) for z in (-s, s)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return _assemble([_quad(*corners[list(q)]) for q in quads])


def _cylinder() -> MeshData:
    n, r, h = 36, 0.8, 1.6
    side = _parametric(
        lambda u, v: np.stack([r * np.cos(u * 2 * np.pi), h * (v - 0.5), r * np.sin(u * 2 * np.pi)], -1), n, 4
    )
    return _assemble([side, _flat_polygon(_ring_points(n, r, h / 2)), _flat_polygon(_ring_points(n, r, -h / 2))])


def _cone() -> MeshData:
    n, r, h = 36, 0.9, 1.8
    side = _parametric(
        lambda u, v: np.stack(
            [r * (1 - v) * np.cos(u * 2 * np.pi), h * (v - 0.5), r * (1 - v) * np.sin(u * 2 * np.pi)], -1
        ),
        n,
        8,
    )
    return _assemble([side, _flat_polygon(_ring_points(n, r, -h / 2))])


def _torus() -> MeshData:
    big, small = 0.75, 0.3

    def fn(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a, b = u * 2 * np.pi, v * 2 * np.pi
        rr = big + small * np.cos(b)
        # Lying in the XY plane so the hole faces the camera at zero pose.
        return np.stack([rr * np.cos(a), rr * np.sin(a), small * np.sin(b)], -1)

    return _assemble([_parametric(fn, 40, 16)])


def _capsule() -> MeshData:
    r, half = 0.45, 0.55

    def fn(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        theta = u * 2 * np.pi
        # v in [0,1]: top hemisphere, straight part, bottom hemisphere, each a third.
        phi = np.clip(np.where(v < 1 / 3, v * 1.5, np.where(v > 2 / 3, (v - 1 / 3) * 1.5, 0.5)), 0, 1) * np.pi
        y = r * np.cos(phi) + np.where(v < 1 / 3, half, np.where(v > 2 / 3, -half, half - (v - 1 / 3) * 6 * half))
        return np.stack([r * np.sin(phi) * np.cos(theta), y, r * np.sin(phi) * np.sin(theta)], -1)

    return _assemble([_parametric(fn, 32, 24)])


def _octahedron() -> MeshData:
    axes = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    pieces = []
    for sx in (0, 1):
        for sy in (2, 3):
            for sz in (4, 5):
                tri = axes[[sx, sy, sz]]
                pieces.append(_flat_polygon(tri))
    return _assemble(pieces)


def _pyramid() -> MeshData:
    base = np.array([[-1, -0.7, -1], [1, -0.7, -1], [1, -0.7, 1], [-1, -0.7, 1]], float)
    apex = np.array([0, 1.1, 0.0])
    pieces = [_flat_polygon(base)]
    for i in range(4):
        pieces.append(_flat_polygon(np.stack([base[i], base[(i + 1) % 4], apex])))
    return _assemble(pieces)


def _star_prism() -> MeshData:
    k = 5
    angles = np.pi / 2 + np.arange(2 * k) * np.pi / k
    radii = np.where(np.arange(2 * k) % 2 == 0, 1.0, 0.42)
    profile = np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    # Stand the star up (profile in XY, extruded along Z) so its outline faces the camera.
    pieces = _prism(profile, 0.5)
    rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    rotated = [(p @ rot.T, f, uv, None if n is None else n @ rot.T) for p, f, uv, n in pieces]
    return _assemble(rotated)


def _ring() -> MeshData:
    """A flat washer: thick annulus standing upright, hole facing the camera."""
    n, outer, inner, depth = 40, 1.0, 0.6, 0.35

    def band(radius: float) -> _Piece:
        return _parametric(
            lambda u, v: np.stack(
                [radius * np.cos(u * 2 * np.pi), radius * np.sin(u * 2 * np.pi), depth * (v - 0.5)], -1
            ),
            n,
            2,
        )

    def face(z: float) -> _Piece:
        def fn(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            rr = inner + (outer - inner) * v
            return np.stack([rr * np.cos(u * 2 * np.pi), rr * np.sin(u * 2 * np.pi), np.full_like(u, z)], -1)

        positions, faces, uvs, _ = _parametric(fn, n, 2)
        return positions, faces, uvs, np.repeat([[0, 0, np.sign(z)]], len(positions), 0).astype(float)

    outer_band, inner_band = band(outer), band(inner)
    # The inner wall faces the axis: flip its welded normals.
    p, f, uv, _ = inner_band
    inner_n = -_weld_normals(p, f)
    return _assemble([outer_band, (p, f, uv, inner_n), face(depth / 2), face(-depth / 2)])


def _tetrahedron() -> MeshData:
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    pieces = [_flat_polygon(v[[a, b, c]]) for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))]
    return _assemble(pieces)


_BUILDERS: dict[str, Callable[[], MeshData]] = {
    "sphere": _sphere,
    "cube": _cube,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "capsule": _capsule,
    "octahedron": _octahedron,
    "pyramid": _pyramid,
    "star_prism": _star_prism,
    "ring": _ring,
    "tetrahedron": _tetrahedron,
}

#: Shape class names, in a stable order.
SHAPES: tuple[str, ...] = tuple(_BUILDERS)


@cache
def make_mesh(name: str) -> MeshData:
    """Build (once per process) the unit-radius mesh of shape class ``name``.

    Example:
        >>> mesh = make_mesh("cube")
        >>> mesh.n_faces, round(float(abs(mesh.positions).max()), 3)
        (12, 0.577)
    """
    if name not in _BUILDERS:
        from robustscope.errors import UnknownNameError
        from robustscope.registry import suggest

        raise UnknownNameError("shape", name, suggest(name, SHAPES), list(SHAPES))
    return _BUILDERS[name]()
