"""A source text long enough for a 50-question quiz (jobs.quiz needs an informative sentence per
question; jobs.samples.PHOTOSYNTHESIS has about 20): a short history of astronomy, written for
bench/protocols.py's large quiz result, in the style of the course documents the hub's jobs read."""

ASTRONOMY = """\
Astronomy is the natural science that studies celestial objects such as stars, planets and galaxies.
The Babylonians recorded the positions of Venus on clay tablets around 1600 BC.
Ancient Egyptian priests used the rising of the star Sirius to predict the yearly flood of the Nile.
Aristotle argued in the fourth century BC that the Earth is a sphere because of its round shadow on the Moon.
Eratosthenes estimated the circumference of the Earth around 240 BC by comparing shadows in Syene and Alexandria.
Hipparchus compiled a catalogue of about 850 stars and discovered the precession of the equinoxes.
Ptolemy described a geocentric model of the universe in the Almagest around 150 AD.
The Almagest remained the standard astronomical textbook in Europe and the Islamic world for over a thousand years.
Al-Battani measured the length of the solar year with remarkable precision in the ninth century.
The astronomer Ulugh Beg built a great observatory in Samarkand in the 1420s.
Nicolaus Copernicus published a heliocentric model of the solar system in 1543.
In the heliocentric model the planets, including the Earth, orbit the Sun.
Tycho Brahe made the most accurate naked-eye observations of the planets from his observatory on the island of Hven.
Tycho Brahe observed a supernova in the constellation Cassiopeia in 1572.
Johannes Kepler used the observations of Tycho Brahe to show that planetary orbits are ellipses.
Kepler's third law relates the orbital period of a planet to the size of its orbit.
Galileo Galilei first pointed a telescope at the night sky in 1609.
Galileo discovered the four largest moons of Jupiter in January 1610.
The phases of Venus observed by Galileo supported the heliocentric model.
Isaac Newton explained the motion of the planets with his law of universal gravitation in 1687.
Newton built the first practical reflecting telescope, which uses a curved mirror instead of a lens.
Edmond Halley predicted that a bright comet would return in 1758, and it did.
William Herschel discovered the planet Uranus in 1781 with a telescope he built himself.
Caroline Herschel discovered eight comets and catalogued many nebulae.
Giuseppe Piazzi discovered Ceres, the largest object in the asteroid belt, in 1801.
Friedrich Bessel measured the parallax of the star 61 Cygni in 1838.
Stellar parallax is the apparent shift of a nearby star against distant stars as the Earth orbits the Sun.
Urbain Le Verrier predicted the position of Neptune from irregularities in the orbit of Uranus.
Johann Galle observed Neptune in 1846 within one degree of the predicted position.
Spectroscopy splits starlight into its colours and reveals the chemical elements of a star.
Joseph von Fraunhofer mapped hundreds of dark lines in the spectrum of the Sun.
Helium was discovered in the spectrum of the Sun during the solar eclipse of 1868 before it was found on Earth.
Annie Jump Cannon classified the spectra of about 350,000 stars at Harvard.
The spectral classes O, B, A, F, G, K and M order stars from the hottest to the coolest.
Henrietta Swan Leavitt found that the period of a Cepheid variable star reveals its true brightness.
Cepheid variables became standard candles for measuring distances to other galaxies.
The Hertzsprung-Russell diagram plots the luminosity of stars against their surface temperature.
Most stars, including the Sun, spend their lives on the main sequence of the Hertzsprung-Russell diagram.
Arthur Eddington confirmed in 1919 that the gravity of the Sun bends starlight, as Albert Einstein had predicted.
Cecilia Payne-Gaposchkin showed in 1925 that stars are made mostly of hydrogen and helium.
Edwin Hubble showed in 1924 that the Andromeda nebula is a galaxy far outside the Milky Way.
Hubble found in 1929 that distant galaxies move away from us faster than nearby ones.
The expansion of the universe is described by the Hubble constant.
Georges Lemaitre proposed that the universe began from a hot dense state, the idea now called the Big Bang.
Karl Jansky detected radio waves from the centre of the Milky Way in 1932.
Arno Penzias and Robert Wilson discovered the cosmic microwave background radiation in 1965.
The cosmic microwave background is the faint afterglow of the Big Bang.
Jocelyn Bell Burnell discovered the first pulsar in 1967 as a graduate student.
A pulsar is a rapidly rotating neutron star that sweeps beams of radio waves across space.
Subrahmanyan Chandrasekhar calculated that a white dwarf cannot be heavier than about 1.4 solar masses.
A star much heavier than the Sun ends its life in a supernova explosion.
A black hole is a region of space where gravity is so strong that not even light escapes.
Vera Rubin measured the rotation of spiral galaxies and found evidence for dark matter.
Dark matter does not emit light but reveals itself through its gravity.
The Hubble Space Telescope was launched in 1990 and orbits about 540 kilometres above the Earth.
Michel Mayor and Didier Queloz discovered the first exoplanet orbiting a Sun-like star in 1995.
The Kepler space telescope found thousands of exoplanets by watching stars dim as planets passed in front of them.
Two teams of astronomers discovered in 1998 that the expansion of the universe is accelerating.
The cause of the accelerating expansion is called dark energy.
The International Astronomical Union reclassified Pluto as a dwarf planet in 2006.
The LIGO observatories detected gravitational waves from two merging black holes in 2015.
The Event Horizon Telescope published the first image of a black hole in the galaxy M87 in 2019.
The James Webb Space Telescope observes the universe in infrared light from a point 1.5 million kilometres from Earth.
Infrared light passes through clouds of dust that hide young stars from visible telescopes.
Astronomers measure distances in the solar system in astronomical units, the mean distance from the Earth to the Sun.
A light year is the distance light travels in one year, about 9.5 trillion kilometres.
Proxima Centauri is the nearest star to the Sun, about 4.2 light years away.
The Milky Way contains between 100 and 400 billion stars.
The Sun converts hydrogen into helium by nuclear fusion in its core.
Sunspots are cooler regions on the surface of the Sun caused by strong magnetic fields.
The number of sunspots rises and falls over a cycle of about 11 years.
"""
