//! Call quality estimate: the ITU-T G.107 (06/2015) E-model transmission rating R and its
//! mapping to MOS-CQE, from the codec, the one-way delay and the packet loss.
//!
//! Owns: the E-model arithmetic with every G.107 Table 3 default except the three inputs
//! a load test measures (delay, loss, burstiness) and the codec's equipment impairment.
//! With all defaults R = 93.2 and MOS ≈ 4.41. Must not keep state or read a clock.
//!
//! Codec values come from ITU-T G.113 Appendix I (Tables I.1 and I.3): G.711 has Ie = 0;
//! its packet-loss robustness is Bpl = 4.3 without packet-loss concealment and 25.1 with
//! G.711 Appendix I PLC. The system under test's PLC is unknown, so [`Codec::default`]
//! is the conservative "no PLC" value, and the caller may pick the other.
//!
//! Delay mapping (G.107 §7.3 for a VoIP path with echo control): the absolute delay Ta,
//! the mean one-way delay of the echo path T and half the round trip are all set to the
//! one-way delay, and the round trip Tr to twice it. [`mouth_to_ear_delay`] builds that
//! delay from what the receiver measures.

use std::time::Duration;

/// The codec's E-model constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Codec {
    /// Equipment impairment factor Ie.
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
}

impl Codec {
    /// G.711 without packet-loss concealment (G.113 App. I: Ie 0, Bpl 4.3).
    pub const G711: Codec = Codec { ie: 0.0, bpl: 4.3 };
    /// G.711 with G.711 Appendix I PLC (G.113 App. I: Ie 0, Bpl 25.1).
    pub const G711_PLC: Codec = Codec { ie: 0.0, bpl: 25.1 };
}

impl Default for Codec {
    fn default() -> Codec {
        Codec::G711
    }
}

/// What the E-model needs from a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// The codec.
    pub codec: Codec,
    /// Mouth-to-ear one-way delay.
    pub one_way_delay: Duration,
    /// Packet loss in percent (0..=100).
    pub loss_percent: f64,
    /// Burst ratio (1 = random loss; above 1 = bursty), G.107 §7.4.
    pub burst_ratio: f64,
}

impl Default for Conditions {
    fn default() -> Conditions {
        Conditions {
            codec: Codec::default(),
            one_way_delay: Duration::ZERO,
            loss_percent: 0.0,
            burst_ratio: 1.0,
        }
    }
}

/// The estimate for one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Transmission rating factor R (0..=100 in practice).
    pub r: f64,
    /// MOS-CQE from R (1..=4.5).
    pub mos: f64,
}

// G.107 Table 3 defaults.
const SLR: f64 = 8.0;
const RLR: f64 = 2.0;
const STMR: f64 = 15.0;
const LSTR: f64 = 18.0;
const DS: f64 = 3.0;
const TELR: f64 = 65.0;
const WEPL: f64 = 110.0;
const QDU: f64 = 1.0;
const NC: f64 = -70.0;
const NFOR: f64 = -64.0;
const PS: f64 = 35.0;
const PR: f64 = 35.0;
const A: f64 = 0.0;

fn db_sum(levels: &[f64]) -> f64 {
    10.0 * levels
        .iter()
        .map(|l| 10f64.powf(l / 10.0))
        .sum::<f64>()
        .log10()
}

/// Basic signal-to-noise ratio Ro (G.107 §7.1) and the noise sum No.
fn ro_and_no() -> (f64, f64) {
    let olr = SLR + RLR;
    let nos = PS - SLR - DS - 100.0 + 0.004 * (PS - olr - DS - 14.0).powi(2);
    let pre = PR + 10.0 * (1.0 + 10f64.powf((10.0 - LSTR) / 10.0)).log10();
    let nor = RLR - 121.0 + pre + 0.008 * (pre - 35.0).powi(2);
    let nfo = NFOR + RLR;
    let no = db_sum(&[NC, nos, nor, nfo]);
    (15.0 - 1.5 * (SLR + no), no)
}

/// Simultaneous impairment Is (G.107 §7.2); depends on T only through STMRo.
fn simultaneous_impairment(ro: f64, no: f64, t: f64) -> f64 {
    let olr = SLR + RLR;
    let xolr = olr + 0.2 * (64.0 + no - RLR);
    let iolr = 20.0 * ((1.0 + (xolr / 8.0).powi(8)).powf(1.0 / 8.0) - xolr / 8.0);
    let stmro =
        -10.0 * (10f64.powf(-STMR / 10.0) + (-t / 4.0).exp() * 10f64.powf(-TELR / 10.0)).log10();
    let ist = 12.0 * (1.0 + ((stmro - 13.0) / 6.0).powi(8)).powf(1.0 / 8.0)
        - 28.0 * (1.0 + ((stmro + 1.0) / 19.4).powi(35)).powf(1.0 / 35.0)
        - 13.0 * (1.0 + ((stmro - 3.0) / 33.0).powi(13)).powf(1.0 / 13.0)
        + 29.0;
    let q = 37.0 - 15.0 * QDU.log10();
    let g = 1.07 + 0.258 * q + 0.0602 * q * q;
    let y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
    let z = 46.0 / 30.0 - g / 40.0;
    let iq = 15.0 * (1.0 + 10f64.powf(y) + 10f64.powf(z)).log10();
    iolr + ist + iq
}

/// Delay impairment from a too-long absolute delay, Idd (G.107 §7.3), `ta` in ms.
#[must_use]
pub fn idd(ta: f64) -> f64 {
    if ta <= 100.0 {
        return 0.0;
    }
    let x = (ta / 100.0).log2();
    25.0 * ((1.0 + x.powi(6)).powf(1.0 / 6.0) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(1.0 / 6.0)
        + 2.0)
}

/// Delay impairment Id = Idte + Idle + Idd (G.107 §7.3), with T = Ta = `t` ms and
/// Tr = 2T.
fn delay_impairment(ro: f64, no: f64, t: f64) -> f64 {
    let tr = 2.0 * t;
    // Talker echo.
    let terv =
        TELR - 40.0 * ((1.0 + t / 10.0) / (1.0 + t / 150.0)).log10() + 6.0 * (-0.3 * t * t).exp();
    let roe = -1.5 * (no - RLR);
    let re = 80.0 + 2.5 * (terv - 14.0);
    let idte =
        ((roe - re) / 2.0 + ((roe - re).powi(2) / 4.0 + 100.0).sqrt() - 1.0) * (1.0 - (-t).exp());
    // Listener echo.
    let rle = 10.5 * (WEPL + 7.0) * (tr + 1.0).powf(-0.25);
    let idle = (ro - rle) / 2.0 + ((ro - rle).powi(2) / 4.0 + 169.0).sqrt();
    idte + idle + idd(t)
}

/// Effective equipment impairment Ie-eff (G.107 §7.4).
#[must_use]
pub fn ie_eff(codec: Codec, loss_percent: f64, burst_ratio: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    let burst = if burst_ratio.is_finite() && burst_ratio >= 1.0 {
        burst_ratio
    } else {
        1.0
    };
    codec.ie + (95.0 - codec.ie) * ppl / (ppl / burst + codec.bpl)
}

/// MOS-CQE from R (G.107 Annex B). The cubic dips just below 1 for 0 < R < 6.5; the
/// result is clamped to 1..=4.5.
#[must_use]
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

/// The E-model estimate for the given conditions. Out-of-range inputs are clamped
/// (NaN loss counts as 0), so any input gives a finite R and a MOS in 1..=4.5.
#[must_use]
pub fn estimate(c: &Conditions) -> Quality {
    let t = c.one_way_delay.as_secs_f64() * 1000.0;
    let t = if t.is_finite() { t.min(60_000.0) } else { 0.0 };
    let loss = if c.loss_percent.is_nan() {
        0.0
    } else {
        c.loss_percent
    };
    let (ro, no) = ro_and_no();
    let is = simultaneous_impairment(ro, no, t);
    let id = delay_impairment(ro, no, t);
    let r = ro - is - id - ie_eff(c.codec, loss, c.burst_ratio) + A;
    Quality {
        r,
        mos: mos_from_r(r),
    }
}

/// A mouth-to-ear delay from receive measurements: half the RTCP round trip (network),
/// plus a jitter buffer of twice the measured jitter, plus one packet time and the codec's
/// look-ahead (0 for G.711). A common engineering approximation, not part of G.107.
#[must_use]
pub fn mouth_to_ear_delay(
    rtt: Option<Duration>,
    jitter: Duration,
    packet_time: Duration,
) -> Duration {
    rtt.unwrap_or(Duration::ZERO) / 2 + jitter * 2 + packet_time
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn defaults_give_r_93_2_and_mos_4_41() {
        let q = estimate(&Conditions::default());
        assert!(close(q.r, 93.2, 0.05), "R = {}", q.r);
        assert!(close(q.mos, 4.41, 0.005), "MOS = {}", q.mos);
        let (ro, no) = ro_and_no();
        assert!(close(ro, 94.77, 0.01), "Ro = {ro}");
        assert!(close(no, -61.18, 0.01), "No = {no}");
        assert!(close(simultaneous_impairment(ro, no, 0.0), 1.41, 0.01));
    }

    #[test]
    fn mos_mapping_matches_annex_b_points() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        assert!(close(mos_from_r(93.2), 4.409, 0.001));
        assert!(close(mos_from_r(50.0), 2.575, 0.001));
        assert!(close(mos_from_r(80.0), 4.024, 0.001));
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert_eq!(mos_from_r(5.0), 1.0);
    }

    #[test]
    fn idd_is_zero_up_to_100ms_and_3_04_at_200ms() {
        assert_eq!(idd(100.0), 0.0);
        assert!(close(idd(200.0), 3.044, 0.005), "{}", idd(200.0));
        assert!(idd(400.0) > idd(300.0));
    }

    #[test]
    fn packet_loss_uses_g113_bpl_for_g711() {
        // Ie-eff = 95 · Ppl / (Ppl + Bpl) with random loss
        assert!(close(ie_eff(Codec::G711, 1.0, 1.0), 95.0 / 5.3, 1e-9));
        assert!(close(ie_eff(Codec::G711_PLC, 2.0, 1.0), 190.0 / 27.1, 1e-9));
        // bursty loss hurts more than random loss
        assert!(ie_eff(Codec::G711_PLC, 2.0, 2.0) > ie_eff(Codec::G711_PLC, 2.0, 1.0));
        let q = estimate(&Conditions {
            loss_percent: 1.0,
            ..Conditions::default()
        });
        assert!(close(q.r, 93.2 - 95.0 / 5.3, 0.05), "{}", q.r);
    }

    #[test]
    fn delay_and_loss_lower_the_rating_monotonically() {
        let mut last = f64::INFINITY;
        for d in [0u64, 50, 100, 150, 200, 300, 400, 600] {
            let q = estimate(&Conditions {
                one_way_delay: Duration::from_millis(d),
                ..Conditions::default()
            });
            assert!(q.r <= last + 1e-9, "delay {d}: {}", q.r);
            last = q.r;
        }
        let mut last = f64::INFINITY;
        for loss in [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0] {
            let q = estimate(&Conditions {
                codec: Codec::G711_PLC,
                loss_percent: loss,
                ..Conditions::default()
            });
            assert!(q.r < last);
            last = q.r;
        }
    }

    #[test]
    fn absurd_inputs_stay_finite() {
        for c in [
            Conditions {
                loss_percent: f64::NAN,
                ..Conditions::default()
            },
            Conditions {
                loss_percent: 1e9,
                burst_ratio: f64::INFINITY,
                ..Conditions::default()
            },
            Conditions {
                one_way_delay: Duration::MAX,
                burst_ratio: -3.0,
                ..Conditions::default()
            },
        ] {
            let q = estimate(&c);
            assert!(q.r.is_finite(), "{c:?}");
            assert!((1.0..=4.5).contains(&q.mos));
        }
    }

    #[test]
    fn mouth_to_ear_adds_half_rtt_jitter_buffer_and_packet_time() {
        let d = mouth_to_ear_delay(
            Some(Duration::from_millis(100)),
            Duration::from_millis(5),
            Duration::from_millis(20),
        );
        assert_eq!(d, Duration::from_millis(80));
    }
}
