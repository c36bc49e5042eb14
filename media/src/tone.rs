//! Deterministic tone synthesis: 8 kHz linear PCM sine tones with short fades.
//!
//! Owns: producing the same samples on every machine, so generated assets are
//! byte-reproducible. The phase is an integer accumulator and the sine is a fixed
//! polynomial using only IEEE-754 add, multiply and divide (no libm, whose results may
//! differ by an ulp between platforms). Must not read a clock or use randomness.

/// Sample rate of everything produced here.
pub const SAMPLE_RATE: u32 = 8000;

/// sin(2π·turns) for `turns` in [0, 1), accurate to about 1e-9.
fn sin_turns(turns: f64) -> f64 {
    // Fold into [-0.25, 0.25] turns using sin(π - x) = sin(x) and periodicity.
    let mut t = turns;
    if t >= 0.5 {
        t -= 1.0;
    }
    if t > 0.25 {
        t = 0.5 - t;
    } else if t < -0.25 {
        t = -0.5 - t;
    }
    let x = t * (2.0 * std::f64::consts::PI);
    let x2 = x * x;
    // Taylor series to x^15: the remainder on |x| <= π/2 is below 1e-10.
    let mut term = x;
    let mut sum = x;
    let mut k = 1.0;
    for _ in 0..7 {
        term = -term * x2 / ((k + 1.0) * (k + 2.0));
        sum += term;
        k += 2.0;
    }
    sum
}

/// A sine tone: `freq_hz`, peak `amplitude` (linear, ≤ 32767), `samples` long, with a
/// linear fade of `fade_samples` at both ends to avoid clicks.
#[must_use]
pub fn sine(freq_hz: u32, amplitude: i16, samples: usize, fade_samples: usize) -> Vec<i16> {
    // Phase increment per sample in 1/2^32 turns; exact integer arithmetic.
    let step = ((u64::from(freq_hz) << 32) / u64::from(SAMPLE_RATE)) as u32;
    let mut phase: u32 = 0;
    let amp = f64::from(amplitude);
    let fade = fade_samples.min(samples / 2);
    (0..samples)
        .map(|i| {
            let turns = f64::from(phase) / 4_294_967_296.0;
            phase = phase.wrapping_add(step);
            let ramp = i.min(samples - 1 - i);
            let gain = if ramp < fade {
                ramp as f64 / fade as f64
            } else {
                1.0
            };
            // |value| <= 32767 since |sin| <= 1 + 1e-9 and amplitude <= 32767.
            (amp * gain * sin_turns(turns))
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// The sum of two sine tones (a DTMF pair, for example), each at `amplitude`.
#[must_use]
pub fn dual_tone(
    low_hz: u32,
    high_hz: u32,
    amplitude: i16,
    samples: usize,
    fade_samples: usize,
) -> Vec<i16> {
    let a = sine(low_hz, amplitude, samples, fade_samples);
    let b = sine(high_hz, amplitude, samples, fade_samples);
    a.iter()
        .zip(&b)
        .map(|(x, y)| x.saturating_add(*y))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_sine_matches_libm_closely() {
        for i in 0..1000 {
            let t = f64::from(i) / 1000.0;
            let want = (t * 2.0 * std::f64::consts::PI).sin();
            assert!((sin_turns(t) - want).abs() < 1e-8, "t={t}");
        }
    }

    #[test]
    fn tone_has_the_requested_frequency_and_peak() {
        let s = sine(440, 10_000, 8000, 0);
        // 440 Hz over one second: 440 rising zero crossings (±1 at the boundary).
        let rising = s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        assert!((439..=441).contains(&rising), "{rising}");
        let peak = s.iter().map(|v| v.unsigned_abs()).max().unwrap();
        assert!((9_990..=10_000).contains(&peak), "{peak}");
    }

    #[test]
    fn fades_start_and_end_at_silence() {
        let s = sine(1000, 20_000, 800, 80);
        assert_eq!(s[0], 0);
        assert!(s[799].unsigned_abs() < 300);
        assert!(s[5].unsigned_abs() < 2_000);
        assert!(s[400..408].iter().any(|v| v.unsigned_abs() > 15_000));
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(sine(440, 8000, 1000, 40), sine(440, 8000, 1000, 40));
        let d = dual_tone(697, 1209, 8000, 160, 0);
        assert_eq!(d.len(), 160);
    }
}
