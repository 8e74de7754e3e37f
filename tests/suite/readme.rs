//! README.md stays true to the tree: its architecture map names every source file and folder
//! (a file added without a word in the map fails here).

use std::path::Path;

fn map_words() -> std::collections::HashSet<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Architecture").expect("README has an Architecture section");
    let open = start + readme[start..].find("```").expect("the map is a code block") + 3;
    let close = open + readme[open..].find("```").expect("the map's block ends");
    readme[open..close]
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push(p.clone());
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_architecture_map_names_every_source_file() {
    let words = map_words();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join("src"), &mut paths);
    for dir in ["scripts", "packaging"] {
        paths.extend(std::fs::read_dir(root.join(dir)).unwrap().flatten().map(|e| e.path()));
    }
    let skip = ["mod", "lib", "README", "THIRD-PARTY-NOTICES", "build", "about"];
    let missing: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?;
            (!skip.contains(&stem) && !words.contains(stem))
                .then(|| p.strip_prefix(root).unwrap().display().to_string())
        })
        .collect();
    assert!(missing.is_empty(), "README's architecture map does not name: {missing:?}");
}
