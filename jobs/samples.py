"""A sample text shipped with the package, for examples and first tries: `from jobs.samples import
PHOTOSYNTHESIS` works from any directory (it is tests/data/photosynthesis.txt)."""

PHOTOSYNTHESIS = """\
Photosynthesis is the process by which green plants convert light energy into chemical energy.
In 1779 Jan Ingenhousz showed that light is essential for plants to purify air. The chloroplast
is the organelle where photosynthesis takes place in plant cells. Chlorophyll absorbs mostly
blue and red light and reflects green light. Melvin Calvin traced the path of carbon through the
Calvin cycle using radioactive carbon-14. The light-dependent reactions occur in the thylakoid
membranes of the chloroplast. During these reactions water molecules are split and oxygen is
released as a by-product. The energy captured is stored in ATP and NADPH for later use. The
Calvin cycle uses ATP and NADPH to fix carbon dioxide into sugars. Rubisco is the enzyme that
catalyses the first step of carbon fixation. Rubisco is thought to be the most abundant protein
on Earth. Joseph Priestley discovered in 1771 that plants restore air that a candle had burned.
C4 plants such as maize concentrate carbon dioxide around Rubisco to reduce photorespiration.
CAM plants like cacti open their stomata at night to conserve water. Stomata are small pores on
leaves that control gas exchange. Photosynthesis produces nearly all the oxygen in the
atmosphere of the Earth. Cyanobacteria were among the first organisms to perform oxygenic
photosynthesis. The Great Oxidation Event happened about 2.4 billion years ago because of
cyanobacteria. Scientists study artificial photosynthesis to produce clean fuels from sunlight.
Improving the efficiency of photosynthesis could raise crop yields around the world.
"""
