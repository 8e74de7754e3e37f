# Sourced by the packaging scripts: the app's identity, as in src/identity.rs (a unit test
# checks that the two agree) and the version from Cargo.toml.
APP_ID=io.github.dynamicrafter_studio.DynamiCrafterStudio
APP_NAME="DynamiCrafter Studio"
BIN_NAME=dynamicrafter-studio
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
export APP_ID APP_NAME BIN_NAME VERSION
# The project's public home, which the app id's domain names (io.github.<owner> with the
# owner's hyphens as underscores): change it here and in Cargo.toml if the repository moves.
HOMEPAGE=https://github.com/dynamicrafter-studio/dynamicrafter-studio
RAW=https://raw.githubusercontent.com/dynamicrafter-studio/dynamicrafter-studio/main
export HOMEPAGE RAW
