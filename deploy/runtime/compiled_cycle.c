/* The nominal control cycle in one call: deploy/runtime/compiled_cycle.py says why and how it is
 * kept equal to the Python cycle (deploy/runtime/runtime.py), which stays the reference and runs
 * every cycle this code declines.
 *
 * Two entry points, each either does the whole nominal job or declines having changed nothing
 * that the Python path would see:
 *   tether_cycle_arrive  a sensor's CDR bytes (odometry, IMU; tether_cycle_arrive_joints: a
 *                        JointState's, its names read by the caller): decoded and checked
 *                        (sensor_decode.c), its stamp judged (deploy/runtime/stamps.py
 *                        judge_stamp), stored in the mirror of the input store (InputStore keeps
 *                        the Python view in step);
 *   tether_cycle_step    a RUNNING cycle: every required input judged (InputStore.judge), the state
 *                        assembled in place (StateAssembler), the limits checked (LimitChecker),
 *                        then the observation and policy (their compiled libraries, through the
 *                        function pointers bound here), the limiter (CommandLimiter.limit_values),
 *                        the final guard and the actuator map (Runtime._emit_values).
 * Every floating-point operation is the Python path's, in its order (ISO C99, no FMA contraction:
 * deploy/runtime/compiled_policy.py COMPILE_FLAGS). */
#include "sensor_decode.c"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* input slots: the mirror's layout (compiled_cycle.py SLOTS) */
enum { ODOMETRY = 0, IMU = 1, JOINTS = 2, COMMAND = 3, SLOTS = 4 };
/* tether_cycle_step's answers (compiled_cycle.py) */
enum { NOMINAL = 0, DECLINED = 1, NONFINITE_ACTION = 2, GUARD = 3 };

typedef void (*call_t)(void);

/* sizes and flags (bind's ints) */
static int32_t A, C, J, attitude_from_imu, finite_bounds, max_miss_streak;
static int32_t required[SLOTS];
/* the mirror of the input store (one entry per slot; present/fault as 0/1; NaN stamps: none;
 * +inf limits: none) */
static int32_t *present, *fault;
static double *arrival_s, *header_s, *previous_s, *max_age_s, *stamp_max_age_s, *age_max_s, *values;
static int64_t *pending, *pending_unstamped;
static int32_t value_at[SLOTS];
/* the newest joint_states sample the C accepted, as the message had it (for the store's view) */
static double *joints_raw;
static int32_t joints_raw_cap, *joints_raw_count;
/* stamp rule and limits */
static double future_tolerance_s /* +inf: none */, cos_tilt, fence_lo[3], fence_hi[3]; /* NaN: none */
static int has_tilt, has_fence;
static double *joint_lo, *joint_hi; /* per contract joint, ±inf where the profile sets none */
/* the assembled state (the StateAssembler's arrays, read by the compiled observation) */
static double *pos, *quat, *vel, *omega, *last_action, *command, *jpos, *jvel, *time_s;
/* policy output and the command's way out */
static const float *policy_action;
static double *previous, *low, *high, *max_step, *offset, *scale, *out_action, *out_actuator;
static int32_t *to_profile;
static call_t observe, act;

void tether_cycle_bind(void **p, const int32_t *n)
{
    A = n[0]; C = n[1]; J = n[2]; attitude_from_imu = n[3]; finite_bounds = n[4]; max_miss_streak = n[5];
    for (int i = 0; i < SLOTS; i++) { required[i] = n[6 + i]; value_at[i] = n[10 + i]; }
    joints_raw_cap = n[14];
    int k = 0;
    present = p[k++]; fault = p[k++]; arrival_s = p[k++]; header_s = p[k++]; previous_s = p[k++];
    max_age_s = p[k++]; stamp_max_age_s = p[k++]; age_max_s = p[k++]; values = p[k++];
    pending = p[k++]; pending_unstamped = p[k++];
    const double *limits = p[k++];
    future_tolerance_s = limits[0]; cos_tilt = limits[1];
    for (int i = 0; i < 3; i++) { fence_lo[i] = limits[2 + i]; fence_hi[i] = limits[5 + i]; }
    has_tilt = !isnan(cos_tilt);
    has_fence = !isnan(fence_lo[0]);
    joint_lo = p[k++]; joint_hi = p[k++];
    pos = p[k++]; quat = p[k++]; vel = p[k++]; omega = p[k++]; last_action = p[k++]; command = p[k++];
    jpos = p[k++]; jvel = p[k++]; time_s = p[k++];
    policy_action = p[k++];
    previous = p[k++]; low = p[k++]; high = p[k++]; max_step = p[k++]; offset = p[k++]; scale = p[k++];
    out_action = p[k++]; out_actuator = p[k++];
    to_profile = p[k++];
    joints_raw = p[k++]; joints_raw_count = p[k++];
    observe = (call_t)p[k++]; act = (call_t)p[k++];
}

/* judge_stamp: 1 when the stamp breaks no rule (NaN: no previous stamp, no clock; +inf: no limit) */
static int stamp_ok(double stamp, double prev, double clock_now, double max_age)
{
    if (!isnan(prev) && stamp < prev) return 0;
    if (isnan(clock_now)) return 1;
    double ahead = stamp - clock_now;
    if (ahead > future_tolerance_s) return 0;
    double behind = -ahead;
    if (behind > max_age) return 0;
    return 1;
}

/* a message's stamp in seconds, as convert.header_stamp_s: NaN for the zero stamp (none) */
static double stamp_s(int32_t sec, uint32_t nanosec)
{
    return (sec == 0 && nanosec == 0) ? NAN : (double)sec + (double)nanosec * 1e-9;
}

/* InputStore.put's checks of a sample's arrival time and own stamp: 1 when it may be stored */
static int admissible(int slot, double now, double header, double clock_now)
{
    if (!isfinite(now)) return 0;
    return isnan(header) || stamp_ok(header, previous_s[slot], clock_now, stamp_max_age_s[slot]);
}

/* InputStore.put's bookkeeping of a stored sample (its values are in place) */
static void stored(int slot, double now, double header)
{
    if (!isnan(header)) previous_s[slot] = header;
    arrival_s[slot] = now;
    header_s[slot] = header;
    present[slot] = 1;
    fault[slot] = 0;
    pending[slot] += 1;
    if (isnan(header)) pending_unstamped[slot] += 1;
}

int tether_cycle_arrive(int32_t slot, const uint8_t *d, size_t n, double now, double clock_now,
                        int32_t *sec, uint32_t *nanosec)
{
    double scratch[13];
    int size;
    if (slot == ODOMETRY) {
        if (tether_odometry(d, n, scratch, sec, nanosec)) return DECLINED;
        size = 13;
    } else if (slot == IMU) {
        if (tether_imu(d, n, scratch, sec, nanosec)) return DECLINED;
        size = 10;
    } else {
        return DECLINED;
    }
    double header = stamp_s(*sec, *nanosec);
    if (!admissible(slot, now, header, clock_now)) return DECLINED;
    double *v = values + value_at[slot];
    for (int i = 0; i < size; i++) v[i] = scratch[i];
    stored(slot, now, header);
    return NOMINAL;
}

/* A JointState's bytes: its names were read by the caller (their count `joints`, where the
 * position sequence starts `at`, the stamp), and `columns` says where each of the contract's joints
 * is among them. Values decoded and checked as tether_joint_values does, the stamp judged, then
 * stored: in the contract's order for the cycle, in the message's for the store. */
int tether_cycle_arrive_joints(const uint8_t *d, size_t n, size_t at, size_t joints, const int64_t *columns,
                               double now, double clock_now, int32_t sec, uint32_t nanosec)
{
    static double scratch[2 * 1024];
    if (joints > (size_t)joints_raw_cap || joints > 1024) return DECLINED;
    if (tether_joint_values(d, n, at, joints, scratch)) return DECLINED;
    double header = stamp_s(sec, nanosec);
    if (!admissible(JOINTS, now, header, clock_now)) return DECLINED;
    double *v = values + value_at[JOINTS];
    for (int i = 0; i < J; i++) {
        v[i] = scratch[columns[i]];
        v[J + i] = scratch[joints + (size_t)columns[i]];
    }
    for (size_t i = 0; i < 2 * joints; i++) joints_raw[i] = scratch[i];
    *joints_raw_count = (int32_t)joints;
    stored(JOINTS, now, header);
    return NOMINAL;
}

/* every required input present, accepted, fresh by arrival and by its own stamp */
static int inputs_ok(double now, double clock_now)
{
    for (int i = 0; i < SLOTS; i++) {
        if (!required[i]) continue;
        if (!present[i] || fault[i]) return 0;
        if (now - arrival_s[i] > max_age_s[i]) return 0; /* +inf: no limit */
        if (!isnan(header_s[i]) && !isnan(clock_now) && clock_now - header_s[i] > stamp_max_age_s[i])
            return 0;
    }
    return 1;
}

static void assemble(double now)
{
    const double *odo = values + value_at[ODOMETRY], *imu = values + value_at[IMU];
    int use_imu = attitude_from_imu && present[IMU];
    if (present[ODOMETRY]) {
        for (int i = 0; i < 3; i++) { pos[i] = odo[i]; vel[i] = odo[7 + i]; }
        if (!use_imu) {
            for (int i = 0; i < 4; i++) quat[i] = odo[3 + i];
            for (int i = 0; i < 3; i++) omega[i] = odo[10 + i];
        }
    } else {
        for (int i = 0; i < 3; i++) { pos[i] = 0.0; vel[i] = 0.0; }
    }
    if (use_imu) {
        for (int i = 0; i < 4; i++) quat[i] = imu[i];
        for (int i = 0; i < 3; i++) omega[i] = imu[4 + i];
    }
    const double *cmd = values + value_at[COMMAND], *js = values + value_at[JOINTS];
    for (int i = 0; i < C; i++) command[i] = present[COMMAND] ? cmd[i] : 0.0;
    for (int i = 0; i < J; i++) { jpos[i] = js[i]; jvel[i] = js[J + i]; }
    for (int i = 0; i < A; i++) last_action[i] = previous[i];
    time_s[0] = now;
}

static int within_limits(void)
{
    if (has_tilt) {
        double w = quat[0], x = quat[1], y = quat[2], z = quat[3];
        double n2 = w * w + x * x + y * y + z * z;
        if (!(n2 > 1e-24 && 1.0 - 2.0 * (x * x + y * y) / n2 > cos_tilt)) return 0;
    }
    if (has_fence)
        for (int i = 0; i < 3; i++)
            if (pos[i] < fence_lo[i] || pos[i] > fence_hi[i]) return 0;
    for (int i = 0; i < J; i++)
        if (!(joint_lo[i] <= jpos[i] && jpos[i] <= joint_hi[i]) && isfinite(jpos[i])) return 0;
    return 1;
}

int tether_cycle_step(double now, double clock_now, int32_t miss_streak)
{
    /* which inputs the base state comes from: without one, no state (a fault in Python) */
    if (!present[ODOMETRY] && !(attitude_from_imu && present[IMU])) return DECLINED;
    /* joints or a command the assembler cannot use (a layout, a size): its problem is Python's to name */
    if (J > 0 && (!present[JOINTS] || fault[JOINTS])) return DECLINED;
    if (C > 0 && fault[COMMAND]) return DECLINED;
    if (!inputs_ok(now, clock_now) || miss_streak >= max_miss_streak) return DECLINED;
    assemble(now);
    if (!within_limits()) return DECLINED;
    /* from here on the cycle is the policy's: the observation history and the policy's state move */
    for (int i = 0; i < SLOTS; i++)
        if (required[i] && now - arrival_s[i] > age_max_s[i]) age_max_s[i] = now - arrival_s[i];
    observe();
    act();
    int finite = 1;
    for (int i = 0; i < A; i++) {
        out_action[i] = (double)policy_action[i];
        if (!isfinite(out_action[i])) finite = 0;
    }
    if (!finite) return NONFINITE_ACTION;
    for (int i = 0; i < A; i++) { /* CommandLimiter.limit_values */
        double a = out_action[i], p = previous[i], lo = low[i], hi = high[i], m = max_step[i];
        a = a < lo ? lo : a > hi ? hi : a;
        double step = a - p;
        if (step > m || step < -m) {
            a = p + (step > m ? m : -m);
            a = a < lo ? lo : a > hi ? hi : a;
        }
        out_action[i] = a;
    }
    for (int i = 0; i < A; i++) previous[i] = out_action[i];
    for (int i = 0; i < A; i++) /* Runtime._emit_values: the final guard's test */
        if (!(low[i] <= out_action[i] && out_action[i] <= high[i]) || (!finite_bounds && !isfinite(out_action[i])))
            return GUARD;
    for (int i = 0; i < A; i++) {
        int k = to_profile[i];
        out_actuator[i] = offset[k] + scale[k] * out_action[k];
    }
    return NOMINAL;
}
