// Hello, World! as an HTTP function of the official Node.js Functions Framework, for
// scripts/bench's comparison.
exports.hello = (req, res) => {
  res.send('Hello, World!');
};
