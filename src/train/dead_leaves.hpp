// Synthetic training images: the dead-leaves model. Discs of random colour fall on the canvas,
// each hiding what lies beneath; their radii follow a power law (density ~ r^-3 between
// kDeadLeavesMinRadius and kDeadLeavesMaxRadius pixels), which makes the images
// scale-invariant, with the 1/f^2 power spectrum and the occluding edges of natural photos at
// every size. Half of the discs
// carry a sinusoidal grating (stripes of random period, orientation and contrast), so the
// images also hold the fine periodic texture (fabric, grass, fences) that smooth
// wallpapers lack. Rendered at twice the resolution and averaged 2x2, so edges are
// anti-aliased as a camera's would be.
//
// With DeadLeavesShapes::mixed the leaves are also ellipses (aspect up to 6:1), rectangles (up
// to 16:1: bars and strokes) and convex polygons of 3 to 7 corners, each a quarter of them and
// of the same area as the disc it replaces, in random orientations: straight edges, corners
// and thin lines, which discs never make.
//
// The image depends only on the draws of `uniform` (numbers in [0, 1)), so a seeded stream
// gives the same image every time (across platforms, up to the last bits of the maths
// library's sin, cos, log and pow).
#pragma once

#include <functional>
#include <string>

namespace cosae::train {

inline constexpr double kDeadLeavesMinRadius = 1.5;  // pixels of the output
inline constexpr double kDeadLeavesMaxRadius = 200.0;

enum class DeadLeavesShapes { discs, mixed };

// "discs" or "mixed"; anything else is a usage error.
DeadLeavesShapes parse_dead_leaves_shapes(const std::string& name);

// Writes a planar [3, side, side] float image in [0, 1] to `planar_rgb`.
void render_dead_leaves(const std::function<double()>& uniform, int side, float* planar_rgb,
                        DeadLeavesShapes shapes = DeadLeavesShapes::discs);

}  // namespace cosae::train
