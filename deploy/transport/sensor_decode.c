/* The driving sensors' CDR bytes to checked float64 values, in one call each
 * (deploy/transport/compiled_decode.py builds and loads this file).
 *
 * Each function does what the Python path does for a sample (deploy/transport/cdr.py decodes,
 * deploy/transport/convert.py converts, deploy/runtime/input_store.py *.of_floats checks), with
 * the same floating-point operations in the same order (compiled without contraction into FMA),
 * and answers:
 *    0  decoded and passes every check: `out` holds the payload's values, in the payload's order;
 *    1  decoded but a value fails a check (not finite, not a unit quaternion, sizes differ);
 *   -1  not decodable here (another encapsulation, truncated, malformed).
 * On anything but 0 the caller takes the Python path, which gives the reason (or decodes what
 * this does not). Every read is bounds-checked against `n`, whatever the bytes say.
 *
 * Layout (OMG XCDR1, little-endian, as cyclonedds writes it): a 4-byte encapsulation header
 * (00 01 ..), then each primitive aligned to its size relative to the end of that header; a
 * string is a uint32 length (with the NUL) and its bytes.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static int encapsulation_ok(const uint8_t *d, size_t n) { return n >= 12 && d[0] == 0x00 && d[1] == 0x01; }

static size_t align(size_t at, size_t k) { return at + ((k - (at - 4) % k) % k); }

static uint32_t u32(const uint8_t *d, size_t at) {
    uint32_t v;
    memcpy(&v, d + at, 4);
    return v;
}

static double f64(const uint8_t *d, size_t at) {
    double v;
    memcpy(&v, d + at, 8);
    return v;
}

/* The offset after the string aligned at or after `at`; 0 when it does not fit in `n`. */
static size_t skip_string(const uint8_t *d, size_t n, size_t at) {
    at = align(at, 4);
    if (at + 4 > n) return 0;
    uint32_t len = u32(d, at);
    if ((uint64_t)at + 4 + len > n) return 0;
    return at + 4 + len;
}

/* The header (stamp into sec, nanosec; frame_id skipped): the offset after it, 0 when the bytes
 * are not little-endian plain CDR or too short. */
static size_t header(const uint8_t *d, size_t n, int32_t *sec, uint32_t *nanosec) {
    if (!encapsulation_ok(d, n)) return 0;
    memcpy(sec, d + 4, 4);
    memcpy(nanosec, d + 8, 4);
    return skip_string(d, n, 12);
}

/* _finite_unit_quaternion: finite, norm in (0.9, 1.1), summed w, x, y, z. */
static int unit_quaternion(double w, double x, double y, double z) {
    if (!(isfinite(w) && isfinite(x) && isfinite(y) && isfinite(z))) return 0;
    double n = sqrt(w * w + x * x + y * y + z * z);
    return 0.9 < n && n < 1.1;
}

static int all_finite(const double *v, size_t k) {
    for (size_t i = 0; i < k; ++i)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* nav_msgs/Odometry → out[13]: position (3), attitude (w, x, y, z), linear velocity in the world
 * frame (the twist's body-frame velocity rotated, as convert._body_to_world), angular velocity
 * (body). */
int tether_odometry(const uint8_t *d, size_t n, double *out, int32_t *sec, uint32_t *nanosec) {
    size_t at = header(d, n, sec, nanosec);
    if (!at) return -1;
    at = skip_string(d, n, at); /* child_frame_id */
    if (!at) return -1;
    at = align(at, 8);
    const size_t cov = 36 * 8;
    if ((uint64_t)at + 7 * 8 + cov + 6 * 8 + cov > n) return -1;
    double p[7], t[6];
    for (int i = 0; i < 7; ++i) p[i] = f64(d, at + 8 * i);
    at += 7 * 8 + cov;
    for (int i = 0; i < 6; ++i) t[i] = f64(d, at + 8 * i);
    double qx = p[3], qy = p[4], qz = p[5], qw = p[6];
    double w = qw, x = qx, y = qy, z = qz;
    double nq = sqrt(w * w + x * x + y * y + z * z);
    if (nq > 1e-12) {
        w = w / nq, x = x / nq, y = y / nq, z = z / nq;
    } else {
        w = 1.0, x = 0.0, y = 0.0, z = 0.0;
    }
    double vx = t[0], vy = t[1], vz = t[2];
    out[0] = p[0], out[1] = p[1], out[2] = p[2];
    out[3] = qw, out[4] = qx, out[5] = qy, out[6] = qz;
    out[7] = (1 - 2 * (y * y + z * z)) * vx + 2 * (x * y - w * z) * vy + 2 * (x * z + w * y) * vz;
    out[8] = 2 * (x * y + w * z) * vx + (1 - 2 * (x * x + z * z)) * vy + 2 * (y * z - w * x) * vz;
    out[9] = 2 * (x * z - w * y) * vx + 2 * (y * z + w * x) * vy + (1 - 2 * (x * x + y * y)) * vz;
    out[10] = t[3], out[11] = t[4], out[12] = t[5];
    if (!unit_quaternion(qw, qx, qy, qz)) return 1;
    if (!all_finite(out, 3) || !all_finite(out + 7, 6)) return 1;
    return 0;
}

/* sensor_msgs/Imu → out[10]: attitude (w, x, y, z), angular velocity, linear acceleration. */
int tether_imu(const uint8_t *d, size_t n, double *out, int32_t *sec, uint32_t *nanosec) {
    size_t at = header(d, n, sec, nanosec);
    if (!at) return -1;
    at = align(at, 8);
    if ((uint64_t)at + 37 * 8 > n) return -1;
    double v[37];
    for (int i = 0; i < 37; ++i) v[i] = f64(d, at + 8 * i);
    out[0] = v[3], out[1] = v[0], out[2] = v[1], out[3] = v[2];
    for (int i = 0; i < 3; ++i) out[4 + i] = v[13 + i], out[7 + i] = v[25 + i];
    if (!unit_quaternion(out[0], out[1], out[2], out[3])) return 1;
    if (!all_finite(out + 4, 6)) return 1;
    return 0;
}

/* sensor_msgs/JointState's position and velocity sequences, from `at` (just after the names) →
 * out[2 * joints]: positions then velocities (an empty velocity sequence is zeros, as
 * convert.joint_states_from_values). 1 when either sequence's length is not `joints`. */
int tether_joint_values(const uint8_t *d, size_t n, size_t at, size_t joints, double *out) {
    if (!encapsulation_ok(d, n)) return -1;
    size_t counts[2];
    for (int s = 0; s < 2; ++s) {
        at = align(at, 4);
        if ((uint64_t)at + 4 > n) return -1;
        uint32_t k = u32(d, at);
        at += 4;
        counts[s] = k;
        if (!k) continue;
        if ((uint64_t)8 * k > n) return -1;
        at = align(at, 8);
        if ((uint64_t)at + (uint64_t)8 * k > n) return -1;
        if (k == joints)
            for (size_t i = 0; i < k; ++i) out[s * joints + i] = f64(d, at + 8 * i);
        at += (size_t)8 * k;
    }
    if (counts[0] != joints) return 1;
    if (counts[1] == 0) {
        for (size_t i = 0; i < joints; ++i) out[joints + i] = 0.0;
    } else if (counts[1] != joints) {
        return 1;
    }
    return all_finite(out, 2 * joints) ? 0 : 1;
}
