// Generated pseudonyms: a gentle adjective and a noun. The lists live here rather than in
// files of their own so that a first visit makes no extra requests for them (issue 19).

const ADJECTIVES = [
  "Amber", "Brave", "Bright", "Calm", "Candid", "Careful", "Cheerful", "Clear", "Cosy",
  "Curious", "Dappled", "Dawn", "Deep", "Eager", "Earnest", "Easy", "Even", "Fair", "Faithful",
  "Fern", "Fresh", "Friendly", "Gentle", "Glad", "Golden", "Good", "Grateful", "Green", "Hardy",
  "Hazel", "Honest", "Hopeful", "Humble", "Jolly", "Kind", "Light", "Lively", "Loyal", "Lucky",
  "Mellow", "Merry", "Mild", "Misty", "Modest", "Mossy", "Neat", "Nimble", "Noble", "Open",
  "Patient", "Peaceful", "Plucky", "Polite", "Quiet", "Rosy", "Russet", "Sage", "Serene",
  "Sincere", "Snug", "Soft", "Sound", "Spry", "Starry", "Steady", "Still", "Sunny", "Sure",
  "Sweet", "Swift", "Tender", "Thankful", "Thoughtful", "Tidy", "Tranquil", "True", "Trusty",
  "Warm", "Wise", "Witty", "Wonder", "Young", "Zesty", "Airy", "Balmy", "Blue", "Breezy",
  "Cloudy", "Cozy", "Dewy", "Dreamy", "Frank", "Gallant", "Graceful", "Hearty", "Jade", "Kindly",
  "Leafy", "Lunar", "Maple", "Olive"
];

const NOUNS = [
  "Acorn", "Badger", "Beacon", "Birch", "Bloom", "Brook", "Bumblebee", "Canyon", "Cedar",
  "Clover", "Comet", "Cove", "Crane", "Creek", "Daisy", "Deer", "Dolphin", "Dove", "Ember",
  "Falcon", "Feather", "Fern", "Finch", "Firefly", "Fox", "Garden", "Glade", "Harbor", "Hare",
  "Hawk", "Heron", "Hill", "Hollow", "Ivy", "Juniper", "Kestrel", "Lake", "Lantern", "Lark",
  "Laurel", "Leaf", "Lily", "Lynx", "Maple", "Marble", "Meadow", "Moon", "Moss", "Nest", "Oak",
  "Otter", "Owl", "Pebble", "Pine", "Plover", "Pond", "Poppy", "Quail", "Rain", "River", "Robin",
  "Rowan", "Sage", "Seal", "Shell", "Sky", "Sparrow", "Spruce", "Star", "Stone", "Stream", "Sun",
  "Swallow", "Swan", "Thistle", "Tide", "Trail", "Tulip", "Valley", "Violet", "Walnut", "Wave",
  "Willow", "Wren", "Aspen", "Bay", "Breeze", "Cloud", "Coral", "Dune", "Elm", "Fjord", "Grove",
  "Heath", "Iris", "Kite", "Linden", "Mist", "Orchid", "Puffin"
];

function pick(words) {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return words[n % words.length];
}

export async function suggestPseudonym() {
  let name;
  do name = `${pick(ADJECTIVES)} ${pick(NOUNS)}`;
  while (name.split(" ")[0] === name.split(" ")[1]);
  return name;
}
