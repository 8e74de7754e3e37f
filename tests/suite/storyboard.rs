//! RIFE, storyboards and continuing a clip, through the binary as a user types them.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{rife_fixture, tiny_fixture};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder of PNG frames, in order.
fn frames(dir: &Path) -> Vec<image::RgbImage> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|f| f.extension().is_some_and(|e| e == "png"));
    files.sort();
    files.iter().map(|f| image::open(f).unwrap().to_rgb8()).collect()
}

/// The tiny model's generation flags (4 frames of 64×64, 2 steps), on the CPU.
fn tiny_args(out: &Path) -> Vec<String> {
    let d = tiny_fixture();
    [
        "animate",
        "--model",
        s(&d.join("model.ckpt")),
        "--config",
        s(&d.join("config.json")),
        "--steps",
        "2",
        "--seed",
        "7",
        "--backend",
        "cpu",
        "--precision",
        "f32",
        "--out",
        s(out),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

#[test]
fn rife_parity_for_both_versions_from_the_pth_files() {
    for v in ["4.7", "4.9"] {
        let o = run(&["parity", s(&rife_fixture(v)), "--backend", "cpu"]);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains("parity: 84 passed, 0 failed"), "{t}");
    }
    // The other version's weights fail every check: the goldens depend on the weights.
    let o = run(&[
        "parity",
        s(&rife_fixture("4.7")),
        "--backend",
        "cpu",
        "--model",
        s(&rife_fixture("4.9").join("rife49.pth")),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("parity: 0 passed, 84 failed"), "{}", text(&o));
    // f16 within the stated bound.
    let o = run(&["parity", s(&rife_fixture("4.9")), "--backend", "cpu", "--precision", "f16"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_dynamicrafter_checkpoint_is_not_taken_for_rife() {
    let tmp = tempfile::tempdir().unwrap();
    let gif = tmp.path().join("in.gif");
    let mut args = tiny_args(&tmp.path().join("frames/"));
    args.truncate(args.len() - 2);
    args.extend(["--image".into(), s(&tiny_fixture().join("input.png")).into(), "--out".into(), s(&gif).into()]);
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = tmp.path().join("x.gif");
    let o = run(&[
        "interpolate",
        s(&gif),
        "--model",
        s(&tiny_fixture().join("model.ckpt")),
        "--out",
        s(&out),
        "--backend",
        "cpu",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is not a RIFE 4.7/4.9 model"), "{}", text(&o));
    assert!(!out.exists());
    let o = run(&[
        "interpolate",
        s(&gif),
        "--model",
        s(&rife_fixture("4.7").join("golden.safetensors")),
        "--out",
        s(&out),
        "--backend",
        "cpu",
    ]);
    assert!(!o.status.success() && !text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn interpolate_doubles_a_gif_and_keeps_its_duration() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain/");
    let mut args = tiny_args(&plain);
    args.extend(["--image".into(), s(&tiny_fixture().join("input.png")).into()]);
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let original = frames(&plain);
    assert_eq!(original.len(), 4);
    // animate --interpolate 2: 7 frames; every second one is the generated frame itself.
    let smooth = tmp.path().join("smooth/");
    let mut args2 = tiny_args(&smooth);
    args2.extend(["--image".into(), s(&tiny_fixture().join("input.png")).into()]);
    args2.extend(["--interpolate", "2", "--rife-model", s(&rife_fixture("4.9").join("rife49.pth"))].map(String::from));
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args2).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let doubled = frames(&smooth);
    assert_eq!(doubled.len(), 7);
    for k in 0..4 {
        assert_eq!(doubled[2 * k], original[k], "frame {k} passes through");
    }
    assert_ne!(doubled[1], original[0]);
    // interpolate on a folder ×4 into a GIF at 4 × 8 fps.
    let gif = tmp.path().join("x4.gif");
    let o = run(&[
        "interpolate",
        s(&plain),
        "--model",
        s(&rife_fixture("4.7").join("rife47.pth")),
        "--factor",
        "4",
        "--out",
        s(&gif),
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("13 frames at 32.0 fps"), "{}", text(&o));
}

#[test]
fn a_storyboard_of_three_keyframes_joins_two_segments() {
    let d = tiny_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (d.join("input.png"), d.join("input2.png"));
    let out = tmp.path().join("board/");
    let mut args = tiny_args(&out);
    args.extend(["--keyframes", s(&a), s(&b), s(&a)].map(String::from));
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("segment 2/2: keyframe 2 → 3 (seed 8)"), "{t}");
    let board = frames(&out);
    assert_eq!(board.len(), 2 * (4 - 1) + 1);
    // Each segment is the same generation as a single interpolation run of its pair (seed
    // 7 + i): the join drops exactly the second segment's first frame.
    for (i, (from, to)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
        let one = tmp.path().join(format!("seg{i}/"));
        let mut args = tiny_args(&one);
        let seed = (7 + i).to_string();
        let k = args.iter().position(|x| x == "--seed").unwrap();
        args[k + 1] = seed;
        args.extend(["--mode", "interp", "--image", s(from), "--image2", s(to)].map(String::from));
        let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let seg = frames(&one);
        let start = i * 3;
        let skip = usize::from(i > 0);
        assert_eq!(&board[start + skip..start + 4], &seg[skip..], "segment {i}");
    }
    // --loop adds the way back and drops the frame that repeats the first.
    let looped = tmp.path().join("loop/");
    let mut args = tiny_args(&looped);
    args.extend(["--keyframes", s(&a), s(&b), s(&a), "--loop"].map(String::from));
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(frames(&looped).len(), 3 * (4 - 1));
}

#[test]
fn continue_starts_from_the_exact_last_frame_and_appends() {
    let d = tiny_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first/");
    let mut args = tiny_args(&first);
    args.extend(["--image".into(), s(&d.join("input.png")).into()]);
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let one = frames(&first);
    let out = tmp.path().join("chain.png");
    let mut args = tiny_args(&out);
    args.extend(["--continue-from", s(&first), "--sidecar"].map(String::from));
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("chain.png.json")).unwrap()).unwrap();
    let text_meta = meta.to_string();
    let want = dynamicrafter_studio::history::digest(one.last().unwrap().as_raw());
    assert!(text_meta.contains(&format!("\"input_frame_hash\":\"{want}\"")), "{text_meta}");
    // 4 + (4 − 1) frames: the new clip's first frame restates the old last frame.
    let apng = std::fs::read(&out).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(apng));
    let reader = decoder.read_info().unwrap();
    assert_eq!(reader.info().animation_control.unwrap().num_frames, 7);
}
